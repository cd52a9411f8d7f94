"""A user's image, whatever it is, as the (3, size, size) tensor in [-1, 1] the chain works on.

image_to_video and interpolate (notebooks 08, 11, 12) accept a path, the bytes of an image file (an
upload), a PIL image, a numpy array or a torch tensor, of any size, mode and format:

- tensors follow the package's convention: (3, H, W) or (1, H, W) or (H, W), floats in [-1, 1]
  (what ShapesWorld.image and the samplers return);
- numpy arrays follow the usual image convention: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4),
  uint8 in 0..255 or floats in [0, 1];
- PIL images of any mode (L, RGBA, P, CMYK, I;16, ...) and files PIL can read.

Transparency is laid on white. A picture that is not square is cropped to its centre square, then
resized (bicubic). Every conversion that changes the picture says so in a warning; anything that
is not a picture gets a ValueError or TypeError that says what was expected.

    image = as_image("photo.jpg", size=32)        # (3, 32, 32), a note: "resized 640x480 -> 32x32, ..."
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

EXPECTED = "a path, an image file's bytes, a PIL image, a numpy array (H, W[, C]) or a torch tensor ([C,] H, W)"
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "I;16", "I;16B", "I;16L", "F")


def _open(file, name: str) -> Image.Image:
    """A path or a file object -> the PIL image in it; `name` is what an error calls it."""
    try:
        with Image.open(file) as image:
            image.load()
            return ImageOps.exif_transpose(image)  # a phone photo the right way up
    except UnidentifiedImageError:
        raise ValueError(f"{name}: not an image PIL can read (PNG, JPEG, GIF, BMP, TIFF, WebP, ...)") from None
    except OSError as error:  # a truncated or damaged file
        raise ValueError(f"{name}: not an image PIL can read ({error})") from None


def _open_path(path: Path) -> Image.Image:
    if not path.exists():
        raise FileNotFoundError(f"no image at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image")
    return _open(path, str(path))


def _open_bytes(data) -> Image.Image:
    if len(data) == 0:
        raise ValueError("the image file is empty (0 bytes)")
    return _open(io.BytesIO(bytes(data)), f"the file ({len(data)} bytes)")


def _from_numpy(array: np.ndarray) -> Image.Image:
    if array.size == 0:
        raise ValueError(f"the image is empty (an array of shape {array.shape})")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise ValueError(f"a numpy image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got shape {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise TypeError(f"a numpy image must hold numbers, got dtype {array.dtype}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError("a float numpy image must hold values in [0, 1] "
                             f"(got {np.nanmin(array):.3g} to {np.nanmax(array):.3g})")
        array = np.round(array * 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"an integer numpy image must hold values in 0..255 (got {low} to {high})")
        array = array.astype(np.uint8)
    return Image.fromarray(array)


def _to_rgb(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Any PIL mode -> RGB; the note says what changed."""
    mode = image.mode
    if mode == "RGB":
        return image, None
    if mode not in MODES:
        raise ValueError(f"mode {mode} is not supported; convert the image to RGB first (supported: {', '.join(MODES)})")
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit, 32-bit and float greys -> 0..255
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") else 1.0 if mode == "F" and values.max() <= 1 else values.max() or 1.0
        image = Image.fromarray(np.round(np.clip(values, 0, top) / top * 255).astype(np.uint8))
        mode = f"{mode} (0..{top:g} -> 0..255)"
    if image.mode == "P" or "A" in image.mode:
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB"), f"mode {mode} -> RGB"


def as_image(image, size: int) -> torch.Tensor:
    """Any picture -> (3, size, size) float in [-1, 1] (see the module's docstring for what is accepted)."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.numel() == 0:
            raise ValueError(f"the image is empty (a tensor of shape {tuple(tensor.shape)})")
        if tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
            raise ValueError(f"a tensor image must be (3, H, W), (1, H, W) or (H, W); got shape {tuple(image.shape)}")
        tensor = tensor.float().expand(3, -1, -1)
        if not torch.isfinite(tensor).all() or tensor.min() < -1 or tensor.max() > 1:
            raise ValueError("a tensor image must hold values in [-1, 1], the package's convention "
                             f"(got {tensor.min().item():.3g} to {tensor.max().item():.3g})")
        if tensor.shape[-2:] == (size, size):
            return tensor.clone()
        pil = Image.fromarray(np.round((tensor.permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8))
    elif isinstance(image, (str, Path)):
        pil = _open_path(Path(image))
    elif isinstance(image, (bytes, bytearray, memoryview)):
        pil = _open_bytes(image)
    elif isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, np.ndarray):
        pil = _from_numpy(image)
    else:
        raise TypeError(f"expected an image: {EXPECTED}; got {type(image).__name__}")
    return _fit(pil, size)


def _fit(pil: Image.Image, size: int) -> torch.Tensor:
    if pil.width == 0 or pil.height == 0:
        raise ValueError(f"the image is empty ({pil.width}x{pil.height} pixels)")
    pil, note = _to_rgb(pil)
    notes = [note] if note else []
    if pil.size != (size, size):
        side = min(pil.size)
        if pil.width != pil.height:
            left, top = (pil.width - side) // 2, (pil.height - side) // 2
            notes.append(f"centre square {side}x{side} cropped from {pil.width}x{pil.height}")
            pil = pil.crop((left, top, left + side, top + side))
        notes.append(f"resized {side}x{side} -> {size}x{size}")
        pil = pil.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if notes:
        warnings.warn("image converted: " + ", ".join(notes), stacklevel=3)
    pixels = torch.from_numpy(np.asarray(pil, dtype=np.float32).copy())  # (H, W, 3) in 0..255
    return pixels.permute(2, 0, 1) / 127.5 - 1
