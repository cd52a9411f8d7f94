"""Loaders for your own images and videos, so the notebooks that train on Shapes World run on real data.

    images = ImageFolder("my_photos", size=32)          # images[i] -> (image (3, 32, 32) in [-1, 1], caption)
    videos = VideoFolder("my_clips", size=32, frames=8)  # videos[i] -> (video (3, 8, 32, 32) in [-1, 1], fps)

Tensors follow the conventions of `world.ShapesWorld`, so either folder stands in for it. As in the paper, the
text-image stages (P, D, SR_h) need captioned images and the video stages (D^t, upF, SR_l^t) unlabeled video.

Layouts accepted (only the top level of `root` is read; names starting with "." are ignored, other files too):

    my_photos/              my_photos/                                              my_clips/
        cat.jpg                 cat.jpg                                                 walk.mp4
        cat.txt  (caption)      dog.png                                                 wave.gif
        dog.png                 captions.jsonl, one line per image:
        dog.txt                     {"file": "cat.jpg", "caption": "a cat on a sofa"}

A sidecar `name.txt` wins over captions.jsonl. Images: png, jpg/jpeg, bmp, gif (first frame), webp, tif/tiff, in
any colour mode; transparent pixels are composited on white, 16-bit grey is scaled to 8 bits. Videos: mp4, mov,
avi, mkv, webm, gif, of which the first `frames` frames are used, decoded by the ffmpeg that imageio-ffmpeg finds
(set IMAGEIO_FFMPEG_EXE to choose one). Each image or frame is resized so its short side is `size`, then
center-cropped to a square.

Every file is decoded once when the folder is opened, so a bad file stops you now rather than halfway through an
epoch. Each problem (not an image or video, truncated, smaller than 8x8, past PIL's decompression-bomb limit, too
few frames, a missing or empty caption, a malformed captions.jsonl line) raises a `DataError` that names the file
and says what to do; with on_error="skip" the file is left out with a warning instead.
"""

from __future__ import annotations

import json
import warnings
from contextlib import closing
from itertools import islice
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from einops import rearrange
from PIL import Image, ImageOps

from .world import to_tensor

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")
ON_ERROR = ("raise", "skip")
CAPTIONS_FILE = "captions.jsonl"
MIN_SIDE = 8  # pixels; smaller images and frames are rejected
DEFAULT_FPS = 8.0  # when the video does not say


class DataError(ValueError):
    """A file in a data folder that cannot be used; the message names it and says what to do."""


def _rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB, transparent pixels on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: PIL's convert would clip at 255
        img = Image.fromarray((np.asarray(img, np.float32) / 257).clip(0, 255).astype(np.uint8))
    if img.has_transparency_data:
        return Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def _square(img: Image.Image, size: int) -> torch.Tensor:
    """RGB image -> (3, size, size) in [-1, 1]: short side to `size`, center crop (one resize of the central square)."""
    w, h = img.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    pixels = np.array(img.resize((size, size), Image.BICUBIC, box=box, reducing_gap=3.0))  # (size, size, 3)
    return to_tensor(pixels[None])[0]


def _too_small(path: Path, w: int, h: int) -> DataError:
    return DataError(f"{path}: is {w}x{h} pixels, smaller than the minimum {MIN_SIDE}x{MIN_SIDE}; remove it")


def _read_image(path: Path, size: int) -> torch.Tensor:
    """Decode one image file -> (3, size, size) float32 in [-1, 1]; any problem is a DataError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # absurd sizes fail at open, before decoding
            with Image.open(path) as img:
                if min(img.size) < MIN_SIDE:
                    raise _too_small(path, *img.size)
                img.draft(img.mode, (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale while still >= size
                img.load()  # the full decode: a truncated file fails here
                return _square(_rgb(ImageOps.exif_transpose(img)), size)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: {e} Shrink it, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it") from None
    except Exception as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}: {e}); "
                        "re-save it as PNG or JPEG, or remove it") from e


class _Folder(torch.utils.data.Dataset):
    """The files of one kind in `root`, each checked once; what they share between images and videos."""

    def __init__(self, root, size: int, on_error: str, extensions: tuple[str, ...]):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}")
        if size < MIN_SIDE:
            raise ValueError(f"size must be at least {MIN_SIDE} pixels, got {size}")
        self.root, self.size, self.on_error, self.extensions = Path(root), int(size), on_error, extensions
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"{self.root}: {what}; pass the folder that holds your files")
        self.files = sorted(p for p in self.root.iterdir()
                            if p.suffix.lower() in extensions and not p.name.startswith(".") and p.is_file())

    def _problem(self, message: str) -> None:
        if self.on_error == "raise":
            raise DataError(f"{message} (or pass on_error='skip' to leave such files out)") from None
        warnings.warn(f"skipping {message}", stacklevel=4)  # points at the line that opened the folder

    def _validate(self, check) -> list:
        """Run check(path) on every file; keep the files that pass and return what check gave for each."""
        kept = {}
        for path in self.files:
            try:
                kept[path] = check(path)
            except DataError as e:
                self._problem(str(e))
        if not kept:
            why = "every file was skipped (see the warnings)" if self.files else "it holds no such files"
            raise DataError(f"{self.root}: nothing to load with extensions {', '.join(self.extensions)}; {why}")
        self.files = list(kept)
        return list(kept.values())

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, size={self.size}): {len(self)} files"


class ImageFolder(_Folder):
    """Captioned images: ds[i] -> (image (3, size, size) float32 in [-1, 1], caption). Captions in `.captions`."""

    def __init__(self, root, size: int = 32, on_error: str = "raise"):
        super().__init__(root, size, on_error, IMAGE_EXTENSIONS)
        self._listed = self._read_captions_file()
        self.captions = self._validate(self._check)

    def _read_captions_file(self) -> dict[str, str]:
        """captions.jsonl -> {file name: caption}; a malformed line is a problem like a bad file."""
        path, captions = self.root / CAPTIONS_FILE, {}
        if not path.is_file():
            return captions
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = None
            if isinstance(entry, dict) and isinstance(entry.get("file"), str) and isinstance(entry.get("caption"), str):
                captions[entry["file"]] = entry["caption"]
            else:
                self._problem(f'{path}, line {number}: expected {{"file": "name.png", "caption": "..."}}, '
                              f"got {line[:80]!r}; fix that line")
        return captions

    def _check(self, path: Path) -> str:
        _read_image(path, self.size)
        sidecar = path.with_suffix(".txt")
        if sidecar.is_file():
            try:
                caption, source = sidecar.read_text(encoding="utf-8-sig"), sidecar
            except UnicodeDecodeError:
                raise DataError(f"{sidecar}: is not UTF-8 text; re-save it as UTF-8") from None
        elif path.name in self._listed:
            caption, source = self._listed[path.name], self.root / CAPTIONS_FILE
        else:
            raise DataError(f"{path}: has no caption; write it in {sidecar.name} next to the image, or add "
                            f'{{"file": "{path.name}", "caption": "..."}} to {CAPTIONS_FILE}')
        if not caption.strip():
            raise DataError(f"{path}: its caption in {source} is empty; write one")
        return caption.strip()

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        return _read_image(self.files[i], self.size), self.captions[i]


class VideoFolder(_Folder):
    """Unlabeled videos: ds[i] -> (video (3, frames, size, size) float32 in [-1, 1], fps). Rates in `.fps`."""

    def __init__(self, root, size: int = 32, frames: int = 8, on_error: str = "raise"):
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        self.frames = int(frames)
        super().__init__(root, size, on_error, VIDEO_EXTENSIONS)
        self.fps = self._validate(lambda path: self._read(path)[1])

    def _read(self, path: Path) -> tuple[torch.Tensor, float]:
        """Decode the first `frames` frames only, so a long video costs no more than a short one."""
        try:
            with closing(imageio_ffmpeg.read_frames(str(path))) as stream:
                meta = next(stream)  # ffmpeg's header: output size (after autorotation) and fps (0 if unknown)
                (w, h), fps = meta["size"], meta["fps"] or DEFAULT_FPS
                clip = [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in islice(stream, self.frames)]
        except Exception as e:
            reason = (str(e).strip().splitlines() or [""])[-1]  # ffmpeg's last line says what went wrong
            raise DataError(f"{path}: not a readable video ({type(e).__name__}: {reason}); "
                            "re-encode it as mp4 (ffmpeg -i in.mov out.mp4), or remove it") from e
        if len(clip) < self.frames:
            raise DataError(f"{path}: has {len(clip)} frames, fewer than frames={self.frames}; "
                            "use a longer clip or ask for fewer frames")
        if min(w, h) < MIN_SIDE:
            raise _too_small(path, w, h)
        squares = torch.stack([_square(Image.fromarray(frame), self.size) for frame in clip])  # (T, 3, size, size)
        return rearrange(squares, "t c h w -> c t h w"), float(fps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, float]:
        return self._read(self.files[i])
