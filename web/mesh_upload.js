// Load Mesh File on the page, as Load Image is: a button (or a file dropped on the node) uploads a mesh into
// ComfyUI's input folder (input/3d, where ComfyUI's own Load 3D puts them) and selects it; a graph that names a
// file the input folder lacks shows it on load: the node outlined in red, the widget saying so.
// (The node's spec also says mesh_upload: the newest frontend's Nodes 2.0 list offers its own upload from it.)
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE = "Distill3DLoadMeshFile";
const WIDGET = "file";
const FOLDER = "3d";
const EXTENSIONS = [".glb", ".gltf", ".obj", ".ply"];

function fileWidget(node) {
  return node.widgets?.find((w) => w.name === WIDGET);
}

function isMesh(file) {
  return EXTENSIONS.some((ext) => file.name.toLowerCase().endsWith(ext));
}

// Marks (or clears) a chosen file that is not in the list: the widget's label, the node's error flag (the older
// frontend draws it as a red outline; the newest recomputes that flag from its own error lists, so the node also
// draws the outline itself, below); leaves the server's own validation marks alone.
function showMissing(node) {
  const widget = fileWidget(node);
  if (!widget) return;
  const values = widget.options?.values ?? [];
  const missing = typeof widget.value === "string" && widget.value !== "" && !values.includes(widget.value);
  widget.label = missing ? `${WIDGET} (missing)` : undefined;
  if (missing) {
    node.has_errors = true;
    node.distill3dMissingFile = true;
  } else if (node.distill3dMissingFile) {
    node.has_errors = false;
    node.distill3dMissingFile = false;
  }
  node.setDirtyCanvas?.(true, true);
}

async function upload(node, file) {
  if (!isMesh(file)) {
    alert(`Load Mesh File takes ${EXTENSIONS.join(" / ")} files, not ${file.name}`);
    return;
  }
  const body = new FormData();
  body.append("image", file); // ComfyUI's upload route stores any file sent under this name
  body.append("subfolder", FOLDER);
  body.append("type", "input");
  const resp = await api.fetchApi("/upload/image", { method: "POST", body });
  if (resp.status !== 200) {
    alert(`Uploading ${file.name} failed: ${resp.status} ${resp.statusText}`);
    return;
  }
  const data = await resp.json();
  const name = data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
  const widget = fileWidget(node);
  if (!widget.options.values.includes(name)) widget.options.values.push(name);
  widget.value = name;
  widget.callback?.(name);
}

app.registerExtension({
  name: "Distill3D.LoadMeshFile",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE) return;
    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      const node = this;
      const input = document.createElement("input");
      Object.assign(input, { type: "file", accept: EXTENSIONS.join(","), style: "display: none" });
      input.onchange = async () => {
        if (input.files.length) await upload(node, input.files[0]);
        input.value = "";
      };
      document.body.append(input);
      const button = node.addWidget("button", "upload", "mesh", () => input.click(), {
        serialize: false,
        canvasOnly: true,
      });
      button.label = "choose mesh file to upload";
      const widget = fileWidget(node);
      const callback = widget?.callback;
      if (widget) {
        widget.callback = function () {
          const out = callback?.apply(this, arguments);
          showMissing(node);
          return out;
        };
      }
      const onRemoved = node.onRemoved;
      node.onRemoved = function () {
        input.remove();
        return onRemoved?.apply(this, arguments);
      };
      return r;
    };
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      const r = onDrawForeground?.apply(this, arguments);
      if (this.distill3dMissingFile && !this.has_errors && !this.flags?.collapsed) {
        const title = LiteGraph.NODE_TITLE_HEIGHT;
        ctx.save();
        ctx.strokeStyle = LiteGraph.NODE_ERROR_COLOUR ?? "#E00";
        ctx.lineWidth = 6;
        ctx.beginPath();
        ctx.roundRect(-8, -title - 8, this.size[0] + 16, this.size[1] + title + 16, 12);
        ctx.stroke();
        ctx.restore();
      }
      return r;
    };
    nodeType.prototype.onDragOver = function (e) {
      return !!e.dataTransfer?.types?.includes("Files");
    };
    nodeType.prototype.onDragDrop = function (e) {
      const file = [...(e.dataTransfer?.files ?? [])].find(isMesh);
      if (!file) return false;
      upload(this, file);
      return true;
    };
  },
  loadedGraphNode(node) {
    if (node.comfyClass === NODE || node.type === NODE) showMissing(node);
  },
});
