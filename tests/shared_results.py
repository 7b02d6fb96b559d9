"""Results that carry their graph, for the core, host and browser tests.

What ComfyUI's page reads from a dropped .glb or .mp4, in Python: ports of the frontends' own readers (1.32.9 and
1.49.6 read both formats the same way; src/scripts/metadata/gltf.ts and isobmff.ts, dispatched by parser.ts on the
file's name or type), so that core and host tests can check a file the way the page will (the browser tests prove
it on the page itself); and the small graph whose results they read."""
import json
import struct

GLB_READ_BYTES = 1 << 20            # gltf.ts MAX_READ_BYTES: the page reads the first MiB of a GLB
ISOBMFF_READ_BYTES = 64 * 1024 * 1024  # isobmff.ts MAX_READ_BYTES


def _parse_value(value):
    """gltf.ts parseMetadataValue: an object is taken as it is, a string is parsed as JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def glb_graph(data: bytes) -> dict:
    """gltf.ts getGltfBinaryMetadata: {"workflow": ..., "prompt": ...} from asset.extras of the JSON chunk, which
    must start the file and end within its first GLB_READ_BYTES; {} otherwise."""
    data = data[:GLB_READ_BYTES]
    if len(data) < 12 or struct.unpack_from("<I", data, 0)[0] != 0x46546C67:  # 'glTF'
        return {}
    if len(data) < 20:
        return {}
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != 0x4E4F534A or 20 + length > len(data):  # 'JSON'
        return {}
    try:
        tree = json.loads(data[20:20 + length].decode())
    except ValueError:
        return {}
    extras = (tree.get("asset") or {}).get("extras") or {}
    out = {}
    for key in ("workflow", "prompt"):
        if extras.get(key):
            value = _parse_value(extras[key])
            if value:
                out[key] = value
    return out


def _find_box(data: bytes, start: int, end: int, box: bytes):
    """isobmff.ts findIsobmffBoxByType: (content start, end) of the first box of that type among the boxes from
    start, or None."""
    pos = start
    while pos < end - 8:
        size = int.from_bytes(data[pos:pos + 4], "big") if pos + 4 <= len(data) else 0
        if size < 8:
            pos += 1
            continue
        if data[pos + 4:pos + 8] == box:
            return pos + 8, pos + size
        if pos + size > end:
            return None
        pos += size
    return None


def _extract_json(data: bytes, start: int, end: int):
    """isobmff.ts extractJson: JSON from the first '{' of the value."""
    i = data.find(b"{", start, end)
    if i < 0:
        return None
    try:
        return json.loads(data[i:end].decode())
    except ValueError:
        return None


def mp4_graph(data: bytes) -> dict:
    """isobmff.ts getFromIsobmffFile: {"workflow": ..., "prompt": ...} from udta/meta/keys + ilst (top-level udta,
    or inside moov), each value parsed as JSON from its first '{'; {} when there is none."""
    data = data[:ISOBMFF_READ_BYTES]
    udta = _find_box(data, 0, len(data), b"udta")
    if udta is None:
        moov = _find_box(data, 0, len(data), b"moov")
        udta = moov and _find_box(data, moov[0], moov[1], b"udta")
    if not udta:
        return {}
    meta = _find_box(data, udta[0], udta[1], b"meta")
    if not meta:
        return {}
    content = meta[0] + 4  # version / flags
    keys_box = _find_box(data, content, meta[1], b"keys")
    if not keys_box:
        return {}
    keys, pos = {}, keys_box[0] + 4
    count = int.from_bytes(data[pos:pos + 4], "big")
    pos += 4
    for i in range(1, count + 1):
        if pos + 8 > keys_box[1]:
            break
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 8
        name_end = pos + size - 8
        if size < 8 or name_end > keys_box[1]:
            break
        keys[i] = data[pos:name_end].decode()
        pos = name_end
    ilst = _find_box(data, content, meta[1], b"ilst")
    if not keys or not ilst:
        return {}
    out, pos = {}, ilst[0]
    while pos < ilst[1] - 8:
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size <= 8 or pos + size > ilst[1]:
            break
        name = keys.get(int.from_bytes(data[pos + 4:pos + 8], "big"))
        box = name and _find_box(data, pos + 8, pos + size, b"data")
        if box and name.lower() in ("prompt", "workflow"):
            value = _extract_json(data, box[0] + 8, box[1])
            if value is not None:
                out[name.lower()] = value
        pos += size
    return out


def shared_results_prompt(prefix: str, obj: str = "torus", frames: int = 3, resolution: int = 32) -> dict:
    """API graph: World Object -> World True Mesh (32³) -> Save Mesh (GLB) and Render Turntable (a few 32² frames,
    MP4), both under output/<prefix>."""
    return {
        "1": {"class_type": "Distill3DWorldObject", "inputs": {"object": obj, "prompt": ""}},
        "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 32}},
        "3": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["2", 0], "filename_prefix": f"{prefix}/mesh",
                                                             "format": "glb"}},
        "4": {"class_type": "Distill3DRenderTurntable",
              "inputs": {"mesh": ["2", 0], "frames": frames, "resolution": resolution, "elevation": 15.0,
                         "distance": 1.8, "fov": 40.0, "shading": "albedo", "fps": 8,
                         "filename_prefix": f"{prefix}/turntable"}},
    }
