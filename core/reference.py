"""The one reference image of image-to-3D (DreamCraft3D, Zero-1-to-3): its mask, framing and camera.

A user's picture arrives from any node: a photo with an alpha channel (ComfyUI's Load Image then gives
MASK = 1 - alpha, 1 where transparent), a background-removal node's mask (1 on the object), or no mask at all.
`object_mask` tells the two conventions apart by the image border (an object mask is ~0 there), `prepare_reference`
recentres and rescales the object to fill a set fraction of a square frame (DreamCraft3D's preprocessing) and gives
the camera the frame is seen from (azimuth 0 by definition: novel views are judged relative to it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .cameras import Cameras

# the border ring a convention is read from, as a fraction of the image side (at least one pixel)
BORDER_FRACTION = 0.03
# an object mask's border is at most this covered; a Load Image mask (1 - alpha) at least 1 - this
BORDER_EMPTY = 0.05


def _border(x: torch.Tensor) -> torch.Tensor:
    """The pixels [K,...] of the outer ring of an [H,W,...] image."""
    h, w = x.shape[:2]
    k = max(1, round(BORDER_FRACTION * min(h, w)))
    return torch.cat([x[:k].flatten(0, 1), x[-k:].flatten(0, 1), x[k:-k, :k].flatten(0, 1),
                      x[k:-k, -k:].flatten(0, 1)])


def object_mask(mask: torch.Tensor, name: str = "mask") -> tuple[torch.Tensor, str | None]:
    """(a mask that is 1 on the object, a note saying it was inverted, or None) for a mask in either convention.

    An object mask is ~0 along the border (the object does not touch the frame); ComfyUI's Load Image mask
    (1 - alpha) is ~1 there. Anything else, or a mask that leaves no object pixels, is refused with what was seen.
    """
    m = torch.as_tensor(mask, dtype=torch.float32)
    if m.ndim == 3:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"the {name} must be [H,W] (or a batch of one), got {tuple(mask.shape)}")
    border = float(_border(m).mean())
    if border <= BORDER_EMPTY:
        obj, note = m, None
    elif border >= 1 - BORDER_EMPTY:
        obj = 1 - m
        note = (f"the {name} is 1 along the image border ({border:.2f} on average), as Load Image's mask (1 - alpha, "
                f"1 where transparent) is: it was inverted to be 1 on the object")
    else:
        raise ValueError(f"the {name} is ambiguous: along the image border it is {border:.2f} on average, neither "
                         f"~0 (a mask that is 1 on the object) nor ~1 (Load Image's 1 - alpha). Give a mask of the "
                         f"whole object that does not touch the frame (any background-removal node), or pad the "
                         f"image so the object does not touch its border")
    if float(obj.sum()) < 1.0:
        hint = (" (Load Image gives an empty 64x64 mask for a picture without an alpha channel: connect a "
                "background-removal node's mask instead, or none)" if tuple(m.shape) == (64, 64) else "")
        raise ValueError(f"the {name} covers no pixels of the object{hint}")
    return obj.clamp(0, 1), note


def object_masks(mask, n: int, size, names=None) -> tuple[torch.Tensor, list[str]]:
    """([N,H,W] masks that are 1 on the object, notes) from a MASK [H,W] / [1|N,H,W] in either convention for n
    views of `size` (H, W): each read by `object_mask`, so that a mask it cannot read is named by its view (index,
    and name where `names` gives one); one mask serves every view."""
    m = torch.as_tensor(mask, dtype=torch.float32)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"the masks must be [N,H,W] (one per view, or one for all), got {tuple(m.shape)}")
    if m.shape[0] not in (1, n):
        raise ValueError(f"{m.shape[0]} masks for {n} images: give one mask per image, or one for all")
    if tuple(m.shape[1:]) != tuple(size):
        raise ValueError(f"the masks are {m.shape[2]}x{m.shape[1]} but the images {size[1]}x{size[0]}: "
                         f"give masks of the images' size")
    out, notes = [], []
    for i, one in enumerate(m):
        try:
            one, note = object_mask(one, "mask")
        except ValueError:
            if len(m) == 1:
                raise
            name = f", '{names[i]}'" if names is not None and i < len(names) else ""
            object_mask(one, f"mask of view {i} of {n} (counting from 0{name})")  # raises, naming the view
            raise
        out.append(one)
        if note and note not in notes:
            notes.append(note)
    return torch.stack(out).expand(n, -1, -1).contiguous(), notes


def mask_from_background(image: torch.Tensor, tolerance: float = 0.04,
                         border_share: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """(object mask, background colour) of an [H,W,3] image on a near-uniform background; refuses any other.

    The background is the border's median colour; it counts as uniform when `border_share` of the border lies
    within `tolerance` of it (0..1 colour units; a lower share lets the object touch a side of the frame). Pixels
    farther than 3 tolerances from it are object, with a soft edge."""
    ring = _border(image)
    colour = ring.median(0).values
    dev = (ring - colour).abs().amax(-1)
    spread = float(dev.quantile(border_share))
    if spread > tolerance:
        raise ValueError(f"no mask was given and the background is not a uniform colour ({border_share:.0%} of the "
                         f"border lies within {spread:.3f} of its median colour, more than {tolerance}): connect a "
                         f"mask of the "
                         f"object, e.g. from any background-removal node (1 on the object), or Load Image's mask "
                         f"of a picture with transparency")
    dist = (image - colour).abs().amax(-1)
    mask = ((dist - tolerance) / (2 * tolerance)).clamp(0, 1)
    if float(mask.sum()) < 1.0:
        raise ValueError("no mask was given and the image is a single colour: there is no object in it")
    return mask, colour


@dataclass(frozen=True)
class Reference:
    """A prepared reference view: image [S,S,3] (0..1), mask [S,S] (1 on the object), optional depth [S,S]
    (larger = farther) and normal [S,S,3] (camera space, unit), and the camera it is seen from."""

    image: torch.Tensor
    mask: torch.Tensor
    elevation: float
    distance: float
    fov: float
    depth: torch.Tensor | None = None
    normal: torch.Tensor | None = None
    background: tuple = (1.0, 1.0, 1.0)
    fill: float = 0.0                       # the fraction of the frame the object was scaled to (0: kept as given)
    notes: tuple = field(default_factory=tuple)  # what was done to the inputs, to tell the user once

    @property
    def camera(self) -> Cameras:
        """The reference camera: azimuth 0 (novel views are judged relative to it), looking at the origin."""
        return Cameras.from_spherical([self.elevation], [0.0], [self.distance], [self.fov])

    def composite(self, background=None) -> torch.Tensor:
        """The image with everything off the object replaced by a solid colour (default: the reference's)."""
        b = torch.tensor(self.background if background is None else background, dtype=torch.float32)
        m = self.mask[..., None]
        return self.image * m + b * (1 - m)


def _resample(x: torch.Tensor, box, size: int, mode: str, fill_value) -> torch.Tensor:
    """Crop [H,W,C] to the square box (top, left, side; may reach outside: padded with fill_value) and resize."""
    top, left, side = box
    h, w, c = x.shape
    canvas = torch.empty(side, side, c, dtype=x.dtype)
    canvas[:] = torch.as_tensor(fill_value, dtype=x.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, h), min(left + side, w)
    if y1 > y0 and x1 > x0:
        canvas[y0 - top:y1 - top, x0 - left:x1 - left] = x[y0:y1, x0:x1]
    img = canvas.permute(2, 0, 1)[None]
    if side != size:
        img = F.interpolate(img, size=(size, size), mode=mode, antialias=mode != "nearest") if mode != "nearest" \
            else F.interpolate(img, size=(size, size), mode="nearest")
    return img[0].permute(1, 2, 0)


def framing_box(mask: torch.Tensor, fill: float):
    """(centre row, centre column, side) in pixels of the square frame in which the object's bounding box (mask >
    0.5) is centred with its longer side `fill` of the frame, DreamCraft3D's framing; None for an empty mask."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return None
    top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return (top + bottom) / 2, (left + right) / 2, max(bottom - top, right - left) / fill


def reframe(images: torch.Tensor, masks: torch.Tensor, fill: float, size: int) -> torch.Tensor:
    """[N,size,size,C] images [N,H,W,C] each framed as `framing_box` says (bilinear; outside the picture: its own
    border). What compares pictures whatever their framing: two views of one object agree once both are reframed."""
    n, h, w, _ = images.shape
    theta = torch.zeros(n, 2, 3)
    for i in range(n):
        framed = framing_box(masks[i], fill)
        cy, cx, side = framed if framed is not None else (h / 2, w / 2, max(h, w))
        theta[i, 0, 0], theta[i, 1, 1] = side / w, side / h
        theta[i, 0, 2], theta[i, 1, 2] = 2 * cx / w - 1, 2 * cy / h - 1
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    out = F.grid_sample(images.permute(0, 3, 1, 2).float(), grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.permute(0, 2, 3, 1)


def _is_load_image_placeholder(mask, size) -> bool:
    """Whether `mask` is what Load Image gives for a picture without an alpha channel: an all-zero 64x64 mask (of
    a picture of another size), not a mask of the object."""
    m = torch.as_tensor(mask)
    m = m[0] if m.ndim == 3 and m.shape[0] == 1 else m
    return tuple(m.shape) == (64, 64) and tuple(size) != (64, 64) and not bool(m.any())


def prepare_reference(image, mask=None, depth=None, normal=None, size: int = 256, fill: float = 0.85,
                      elevation: float = 15.0, distance: float = 1.8, fov: float = 40.0,
                      background_tolerance: float = 0.04) -> Reference:
    """A Reference from a ComfyUI-style IMAGE [B,H,W,3] (first of a batch), MASK in either convention (or none, on
    a near-uniform background), optional depth (near bright, as depth estimators give) and normal maps (0..1).

    fill > 0: the object's bounding box is centred and scaled so its longer side is `fill` of the frame
    (DreamCraft3D: 0.85); fill = 0: the image is only padded to a square (an exact view at a known camera)."""
    notes = []
    image = torch.as_tensor(image, dtype=torch.float32)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise ValueError(f"the reference image must be an IMAGE [B,H,W,3], got {tuple(image.shape)}")
    if image.shape[0] > 1:
        notes.append(f"the reference is a batch of {image.shape[0]} images: the first one is used")
    img = image[0, ..., :3].clamp(0, 1)
    h, w = img.shape[:2]
    if not 0.0 <= fill < 1.0:
        raise ValueError(f"fill is the fraction of the frame the object fills, within [0, 1), got {fill}")

    if mask is not None and _is_load_image_placeholder(mask, (h, w)):
        notes.append("the mask is Load Image's empty 64x64 placeholder (the picture has no alpha channel): it was "
                     "ignored, and the object read from the picture's background")
        mask = None
    if mask is not None:
        m = torch.as_tensor(mask, dtype=torch.float32)
        if m.ndim == 3:
            if m.shape[0] > 1:
                notes.append(f"the mask is a batch of {m.shape[0]}: the first one is used")
            m = m[0]
        if tuple(m.shape) != (h, w):
            notes.append(f"the mask is {m.shape[1]}x{m.shape[0]}, the image {w}x{h}: the mask was resized")
            m = F.interpolate(m[None, None], size=(h, w), mode="bilinear")[0, 0]
        m, note = object_mask(m, "reference mask")
        if note:
            notes.append(note)
        bg = (1.0, 1.0, 1.0)
    else:
        m, colour = mask_from_background(img, background_tolerance)
        bg = tuple(float(c) for c in colour)
        notes.append(f"no mask given: the object is what differs from the uniform background colour "
                     f"({', '.join(f'{c:.2f}' for c in bg)})")

    def matched(x, name, channels):
        if x is None:
            return None
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim == 4:
            x = x[0]
        if x.ndim == 2:
            x = x[..., None]
        x = x[..., :channels]
        if x.shape[:2] != (h, w):
            notes.append(f"the {name} map is {x.shape[1]}x{x.shape[0]}, the image {w}x{h}: it was resized")
            x = F.interpolate(x.permute(2, 0, 1)[None], size=(h, w), mode="bilinear")[0].permute(1, 2, 0)
        return x

    d = matched(depth, "depth", 1)
    n = matched(normal, "normal", 3)

    if fill > 0:
        framed = framing_box(m, fill)
        if framed is None:
            raise ValueError("the reference mask has no pixel above 0.5: there is no object to centre")
        cy, cx, side = framed
        side = max(1, round(side))
        box = (round(cy - side / 2), round(cx - side / 2), side)
    else:
        side = max(h, w)
        if h != w:
            notes.append(f"the reference is {w}x{h}, not square: it was padded to {side}x{side}")
        box = ((h - side) // 2, (w - side) // 2, side)

    out_img = _resample(img, box, size, "bilinear", bg)
    out_mask = _resample(m[..., None], box, size, "bilinear", 0.0)[..., 0].clamp(0, 1)
    out_depth = None if d is None else 1.0 - _resample(d, box, size, "bilinear", 0.0)[..., 0]  # near bright -> far large
    out_normal = None
    if n is not None:
        nn = _resample(n, box, size, "bilinear", 0.5)
        out_normal = F.normalize(nn * 2 - 1, dim=-1)
    return Reference(out_img.clamp(0, 1), out_mask, float(elevation), float(distance), float(fov), out_depth,
                     out_normal, bg, float(fill), tuple(notes))
