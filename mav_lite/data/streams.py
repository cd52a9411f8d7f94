"""Endless, resumable streams of Shapes World batches for training (torch IterableDatasets).

A stream is a position in an infinite sequence of samples: each batch holds samples
[position, position + batch_size), then the position moves on by `stride` (the batch size, or
processes * batch size when several processes read one stream, each from its own offset). Save `state_dict()` with a checkpoint and `load_state_dict()`
on resume, and training continues with exactly the batches it would have seen.

    stream = ImageStream(ShapesWorld(32, seed=0), batch_size=32)
    images, captions = next(iter(stream))      # (32, 3, 32, 32), 32 captions
    clips = ClipStream(world, batch_size=4, frames=8, fps=(1, 30))
    videos, fps = next(iter(clips))            # (4, 3, 8, 32, 32), (4,) fps of each clip
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .world import ShapesWorld


class _Stream(IterableDataset):
    def __init__(self, world: ShapesWorld, batch_size: int, position: int = 0, stride: int | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.world, self.batch_size, self.position = world, int(batch_size), int(position)
        self.stride = int(stride or batch_size)  # > batch_size when processes share the stream

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])

    def __iter__(self):
        while True:
            indices = range(self.position, self.position + self.batch_size)
            batch = self._batch(indices)
            self.position += self.stride
            yield batch

    def _batch(self, indices):
        raise NotImplementedError


class ImageStream(_Stream):
    """Batches of (images (B, 3, H, W) in [-1, 1], captions) from the "seen" split."""

    def _batch(self, indices):
        images, captions, _ = self.world.images(indices)
        return images, captions


class ClipStream(_Stream):
    """Batches of unlabeled clips (videos (B, 3, T, H, W), fps (B,)); no captions, as in the paper.

    fps: one number, or a (low, high) range each clip's fps is drawn from (integers, per sample,
    seeded by the world's seed and the sample index). curriculum: the paper's schedule from high fps
    (little motion per frame) to low fps: clip i draws from (floor, high), the floor falling from
    high to low over the first `curriculum` clips of the stream (0: the whole range at once),
    evenly in log fps (as the U-Net embeds it), so 30 -> 15 takes as long as 2 -> 1.
    """

    def __init__(self, world: ShapesWorld, batch_size: int, frames: int, fps=8, position: int = 0,
                 stride: int | None = None, curriculum: int = 0):
        super().__init__(world, batch_size, position, stride)
        low, high = (fps, fps) if np.ndim(fps) == 0 else fps
        if not 0 < low <= high:
            raise ValueError(f"fps must be positive and low <= high, got {fps}")
        if curriculum < 0:
            raise ValueError(f"curriculum must be a number of clips >= 0, got {curriculum}")
        self.frames, self.fps_range, self.curriculum = int(frames), (low, high), int(curriculum)

    def fps_floor(self, index: int) -> int:
        """The lowest fps clip `index` may have under the curriculum."""
        low, high = self.fps_range
        opened = min(1.0, index / self.curriculum) if self.curriculum else 1.0
        return round(high * (low / high) ** opened)

    def fps_of(self, index: int) -> int:
        """The fps of clip `index` (drawn from the range, above the curriculum's floor)."""
        rng = np.random.default_rng([self.world.seed, 100, index])
        return int(rng.integers(self.fps_floor(index), self.fps_range[1] + 1))

    def _batch(self, indices):
        fps = [self.fps_of(i) for i in indices]
        videos, _ = self.world.videos(indices, self.frames, fps)
        return videos, torch.tensor(fps, dtype=torch.float32)


class ResolutionPairStream(ClipStream):
    """Super-resolution pairs: the same scenes rendered small and at the world's size.

    frames=0: batches of (low (B, 3, h, w), high (B, 3, H, W)) images; frames > 0: batches of
    (low (B, 3, T, h, w), high (B, 3, T, H, W), fps (B,)) clips, fps drawn as ClipStream draws it.
    """

    def __init__(self, world: ShapesWorld, batch_size: int, low_size: int, frames: int = 0, fps=8,
                 position: int = 0, stride: int | None = None):
        super().__init__(world, batch_size, frames, fps, position, stride)
        if not 0 < low_size < world.size:
            raise ValueError(f"the low resolution must be below the world's {world.size}, got {low_size}")
        self.low_size = int(low_size)

    def _batch(self, indices):
        if not self.frames:
            return self.world.images(indices, self.low_size)[0], self.world.images(indices)[0]
        fps = [self.fps_of(i) for i in indices]
        low, _ = self.world.videos(indices, self.frames, fps, self.low_size)
        high, _ = self.world.videos(indices, self.frames, fps)
        return low, high, torch.tensor(fps, dtype=torch.float32)
