"""Display and saving: images with captions, videos and video grids, MP4/GIF files, loss plots.

One helper per job, used by every notebook and command:

    show_images(images, captions)          # a grid with captions (matplotlib)
    show_video(video, fps=8)               # plays in the notebook (mediapy, H.264)
    show_videos([v1, v2], ["D^t", "upF"])  # side by side
    save_video(video, "clip.mp4", fps=8)   # or "clip.gif"
    plot_losses({"train": losses})

Tensors follow the package's conventions: images (3, H, W) or (B, 3, H, W), videos (3, T, H, W) or
(B, 3, T, H, W), float in [-1, 1]. Small frames are enlarged with nearest-neighbour pixels (no
blur) so a 32^2 clip is visible and H.264 gets the even sizes it needs.
"""

from __future__ import annotations

import shutil
import textwrap
from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import mediapy
import numpy as np
import torch
from einops import rearrange

DISPLAY_HEIGHT = 128  # small frames are enlarged to at least this many pixels


@cache
def ensure_ffmpeg() -> str:
    """Find ffmpeg (the system's, else imageio-ffmpeg's bundled binary) and tell mediapy; its path."""
    path = shutil.which("ffmpeg")
    if path is None:
        import imageio_ffmpeg

        path = imageio_ffmpeg.get_ffmpeg_exe()
    mediapy.set_ffmpeg(path)
    return path


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)


def to_image(image) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) float in [0, 1] (what matplotlib and mediapy show)."""
    x = _numpy(image)
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(x.shape)}")
    return np.clip(rearrange(x, "c h w -> h w c") * 0.5 + 0.5, 0.0, 1.0)


def to_frames(video) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) float in [0, 1]."""
    x = _numpy(video)
    if x.ndim != 4 or x.shape[0] != 3:
        raise ValueError(f"expected a video of shape (3, T, H, W), got {tuple(x.shape)}")
    return np.clip(rearrange(x, "c t h w -> t h w c") * 0.5 + 0.5, 0.0, 1.0)


def enlarge(frames: np.ndarray, height: int = DISPLAY_HEIGHT) -> np.ndarray:
    """Nearest-neighbour enlarge (..., H, W, 3) to at least `height` rows, with even sides."""
    factor = max(1, -(-height // frames.shape[-3]))  # ceil
    big = frames.repeat(factor, axis=-3).repeat(factor, axis=-2)
    pad_h, pad_w = big.shape[-3] % 2, big.shape[-2] % 2
    if pad_h or pad_w:
        pad = [(0, 0)] * (big.ndim - 3) + [(0, pad_h), (0, pad_w), (0, 0)]
        big = np.pad(big, pad, mode="edge")
    return big


def _videos(videos) -> list:
    """A (B, 3, T, H, W) batch or a list of (3, T, H, W) videos -> a list of videos."""
    if isinstance(videos, (torch.Tensor, np.ndarray)) and videos.ndim == 5:
        return list(videos)
    return list(videos) if isinstance(videos, (list, tuple)) else [videos]


def show_video(video, fps: float = 8, title: str | None = None, height: int = DISPLAY_HEIGHT) -> None:
    """Play one video (3, T, H, W) in the notebook."""
    show_videos([video], [title] if title else None, fps=fps, height=height)


def show_videos(videos, titles=None, fps: float = 8, columns: int | None = None,
                height: int = DISPLAY_HEIGHT) -> None:
    """Play videos side by side: a (B, 3, T, H, W) batch or a list of (3, T, H, W), titles optional."""
    ensure_ffmpeg()
    frames = [enlarge(to_frames(v), height) for v in _videos(videos)]
    mediapy.show_videos(frames, titles, fps=fps, columns=columns)


def save_video(video, path, fps: float = 8, height: int = DISPLAY_HEIGHT) -> Path:
    """Write a video (3, T, H, W) as MP4 (H.264) or GIF, chosen by the file's extension."""
    path = Path(path)
    codecs = {".mp4": "h264", ".gif": "gif"}
    if path.suffix.lower() not in codecs:
        raise ValueError(f"cannot save {path.name}: use a .mp4 or .gif file name")
    ensure_ffmpeg()
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = enlarge(to_frames(video), height)
    mediapy.write_video(path, frames, fps=fps, codec=codecs[path.suffix.lower()])
    return path


def image_grid(images, ncols: int = 8) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> one (rows*H, ncols*W, 3) picture in [0, 1] (1-pixel gaps)."""
    x = np.stack([to_image(im) for im in images])  # (B, H, W, 3)
    b, h, w, _ = x.shape
    ncols = min(ncols, b)
    rows = -(-b // ncols)
    grid = np.ones((rows * (h + 1) - 1, ncols * (w + 1) - 1, 3), np.float32)
    for i, im in enumerate(x):
        r, c = divmod(i, ncols)
        grid[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = im
    return grid


def save_image_grid(images, path, ncols: int = 8, scale: int = 2) -> Path:
    """Write (B, 3, H, W) in [-1, 1] as one PNG grid, each pixel shown `scale` x `scale`."""
    from PIL import Image

    grid = (image_grid(images, ncols) * 255).round().astype(np.uint8)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


def show_images(images, captions=None, ncols: int = 8, title: str | None = None, size: float = 1.6):
    """A grid of images (B, 3, H, W), each with its caption wrapped underneath; returns the figure."""
    images = list(images)
    ncols = min(ncols, len(images))
    rows = -(-len(images) // ncols)
    if not captions:  # one picture: larger thumbnails than a grid of axes
        fig = plt.figure(figsize=(size * ncols, size * rows + (0.4 if title else 0)))
        plt.imshow(image_grid(images, ncols), interpolation="nearest")
        plt.axis("off")
        if title:
            plt.title(title)
        fig.tight_layout()
        plt.show()
        return fig
    extra = 0.5
    fig, axes = plt.subplots(rows, ncols, figsize=(size * ncols, (size + extra) * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(to_image(image), interpolation="nearest")
        ax.set_title("\n".join(textwrap.wrap(captions[i], 22)), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


def show_ground_truth(image, attrs: dict, ax=None):
    """An image with every object's ground truth drawn on it: centre, extent and attributes."""
    from .data.render import extent

    ax = ax or plt.figure(figsize=(3, 3)).gca()
    ax.imshow(to_image(image), interpolation="nearest", extent=(0, 1, 1, 0))
    for obj in attrs["objects"]:
        reach = float(extent(obj["shape"], obj["radius"]))
        ax.add_patch(plt.Circle((obj["x"], obj["y"]), reach, fill=False, color="lime", lw=1))
        ax.plot(obj["x"], obj["y"], "+", color="lime")
        label = f"{obj['size']} {obj['color']} {obj['shape']}"
        ax.text(obj["x"], obj["y"] - reach - 0.02, label, color="lime", fontsize=7, ha="center", va="bottom")
    for k in (1, 2):  # the 3x3 grid that position words refer to
        ax.axhline(k / 3, color="white", lw=0.5, alpha=0.4)
        ax.axvline(k / 3, color="white", lw=0.5, alpha=0.4)
    ax.set_xlim(0, 1), ax.set_ylim(1, 0), ax.axis("off")
    ax.set_title("\n".join(textwrap.wrap(attrs.get("caption", ""), 34)), fontsize=7)
    return ax


def plot_losses(curves: dict[str, list[float]], title: str = "loss", smooth: int = 1, ax=None):
    """Loss curves by name (e.g. {"train": [...], "val": [...]}); a moving average of `smooth` steps."""
    ax = ax or plt.figure(figsize=(5, 3)).gca()
    for name, values in curves.items():
        y = np.asarray(values, np.float64)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(y)) + len(values) - len(y), y, label=name)  # a moving average starts later
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(title)
    ax.set_yscale("log")
    ax.legend()
    return ax


def video_grid(videos, ncols: int) -> torch.Tensor:
    """(B, 3, T, H, W) with B a multiple of ncols -> one (3, T, rows*H, ncols*W) video."""
    videos = torch.as_tensor(np.stack([_numpy(v) for v in _videos(videos)]))
    if len(videos) % ncols:
        raise ValueError(f"{len(videos)} videos do not fill rows of {ncols}")
    return rearrange(videos, "(r c) ch t h w -> ch t (r h) (c w)", c=ncols)


def plot_chain(preset, ax=None):
    """The paper's chain (eq. 1) as boxes, with the sizes each stage makes in `preset`."""
    w, frames = preset.world, preset.frames_after_upf
    stages = [
        ("text", "a prompt"),
        ("$C_x$", "text embedding $x_e$"),
        ("$P$", "image embedding $y_e$"),
        ("$D^t$", f"{w.frames} frames @{w.image_size}²"),
        ("$\\uparrow_F$ (upF)", f"{frames} frames @{w.image_size}²"),
        ("$SR_l^t$", f"{frames} frames @{preset.sr_low.size_out}²"),
        ("$SR_h$", f"{frames} frames @{preset.sr_high.size_out}²"),
    ]
    ax = ax or plt.figure(figsize=(12, 1.9)).gca()
    for i, (name, made) in enumerate(stages):
        ax.add_patch(plt.Rectangle((i * 1.6, 0), 1.2, 0.8, fc="#e8eefc" if i else "#f4f4f4", ec="#335"))
        ax.text(i * 1.6 + 0.6, 0.4, name, ha="center", va="center", fontsize=13)
        ax.text(i * 1.6 + 0.6, -0.25, made, ha="center", va="center", fontsize=8)
        if i:
            ax.annotate("", xy=(i * 1.6, 0.4), xytext=(i * 1.6 - 0.4, 0.4), arrowprops={"arrowstyle": "->"})
    ax.set_xlim(-0.1, len(stages) * 1.6 - 0.3), ax.set_ylim(-0.5, 1.0), ax.axis("off")
    ax.set_title(f"Make-A-Video's chain in preset '{preset.name}'  (only $P$ ever sees text; "
                 "$D^t$, upF and $SR_l^t$ learn from unlabeled video)", fontsize=10)
    return ax
