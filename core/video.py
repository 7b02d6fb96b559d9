"""Encoding frames to a video file in memory (PyAV, which ComfyUI already ships), for atomic writes."""
from __future__ import annotations

import io

import numpy as np
import torch


def encode_mp4(frames: torch.Tensor, fps: int = 24, metadata: dict[str, str] | None = None) -> bytes:
    """frames [N,H,W,3] in 0..1 -> H.264 MP4 bytes (even sizes are required by the codec: frames are padded).

    metadata: container tags, text values (e.g. the graph that made the video, {"prompt": JSON text, "workflow":
    JSON text}), written as ComfyUI's own video saver writes them: MP4 `use_metadata_tags`, i.e. moov/udta/meta
    with a `keys` box naming each tag and an `ilst` item holding its text, where ComfyUI's page looks for
    "prompt" and "workflow" when the file is dropped on it."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - ComfyUI requires av
        raise RuntimeError("writing video needs PyAV ('pip install av'), which ComfyUI normally includes") from e
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty [N,H,W,3] batch, got {list(frames.shape)}")
    arr = (frames.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    n, h, w, _ = arr.shape
    arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buf = io.BytesIO()
    options = {"movflags": "use_metadata_tags"} if metadata else {}
    with av.open(buf, "w", format="mp4", options=options) as container:
        for key, value in (metadata or {}).items():  # before any stream, as ComfyUI writes them
            if not isinstance(value, str):
                raise TypeError(f"video metadata '{key}' must be text (e.g. JSON), got {type(value).__name__}")
            container.metadata[key] = value
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_frame_count(data: bytes) -> int:
    import av
    with av.open(io.BytesIO(data)) as c:
        return sum(1 for _ in c.decode(video=0))


def read_metadata(data: bytes) -> dict[str, str]:
    """The container tags of a video (what encode_mp4's metadata wrote, among the muxer's own)."""
    import av
    with av.open(io.BytesIO(data)) as c:
        return dict(c.metadata)
