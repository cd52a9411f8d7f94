"""The motion oracle: a small 3D CNN that reads how things move in a Shapes World clip (FVD-lite).

FVD (Unterthiner et al. 2018) is FID with the features of a video classifier (I3D) in place of an
image classifier's, so the distance sees motion, not just frames. FVD-lite (metrics.py) does the
same with this model, trained on unlabeled Shapes World clips to tell which motions a clip holds
(linear, gravity, spin, pulse), which way a linear mover goes, and at which fps the clip runs:
its features have to look across frames to answer.

    video_oracle, card = load_pretrained("video_oracle")
    video_oracle.features(videos)   # (B, 256) for FVD-lite
    video_oracle.read(videos)       # [{"motions": {"linear"}, "direction": "left", "fps": 7.6}, ...]

Registered as the `video_oracle` stage: `mav-lite train video_oracle --preset cpu --out runs/video_oracle`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import Preset
from .data import ClipStream, ShapesWorld, resize_images
from .data.vocab import DIRECTIONS, MOTIONS
from .metrics import clip_frames
from .train import Stage, register_stage


def _block(c_in: int, c_out: int, stride) -> list[nn.Module]:
    return [nn.Conv3d(c_in, c_out, 3, stride, 1), nn.GroupNorm(min(8, c_out // 2), c_out), nn.SiLU()]


class VideoOracle(nn.Module):
    """3D convs over (T, H, W) -> global pool -> 256 features -> motions present (multi-label),
    direction of a linear mover, log2 fps."""

    def __init__(self, size: int = 32, width: int = 16):
        super().__init__()
        self.size = int(size)
        self.config = dict(size=size, width=width)
        w = width
        self.body = nn.Sequential(*_block(3, w, 1), *_block(w, 2 * w, (1, 2, 2)), *_block(2 * w, 2 * w, (2, 2, 2)),
                                  *_block(2 * w, 4 * w, (1, 2, 2)))
        self.neck = nn.Sequential(nn.Linear(4 * w, 256), nn.SiLU())
        self.heads = nn.ModuleDict({"motions": nn.Linear(256, len(MOTIONS)), "direction": nn.Linear(256, len(DIRECTIONS)),
                                    "log2_fps": nn.Linear(256, 1)})

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1], T >= 2, any H, W (frames resized to the oracle's size) -> (B, 256)."""
        if videos.ndim != 5 or videos.shape[1] != 3 or videos.shape[2] < 2:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W) with T >= 2, got {tuple(videos.shape)}")
        b, _, frames = videos.shape[:3]
        device = self.heads["motions"].weight.device
        frames_ = resize_images(clip_frames(videos).to(device, torch.float32), self.size)
        videos = frames_.unflatten(0, (b, frames)).transpose(1, 2)  # (B, 3, T, size, size)
        return self.neck(self.body(videos).mean(dim=(2, 3, 4)))

    def forward(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(videos)
        return {"motions": self.heads["motions"](h), "direction": self.heads["direction"](h),
                "log2_fps": self.heads["log2_fps"](h)[:, 0]}

    @torch.no_grad()
    def read(self, videos: torch.Tensor) -> list[dict]:
        """What the oracle sees in each clip: the motions, a direction (when one linear mover is seen), fps."""
        out = self(videos)
        readings = []
        for motions, direction, log2_fps in zip(out["motions"].sigmoid(), out["direction"], out["log2_fps"]):
            seen = {m for m, p in zip(MOTIONS, motions) if p > 0.5}
            readings.append({"motions": seen, "direction": DIRECTIONS[int(direction.argmax())] if "linear" in seen
                             else None, "fps": float(2 ** log2_fps)})
        return readings

    def accuracy(self, videos: torch.Tensor, clips: list[dict]) -> dict[str, float]:
        """How well it reads real clips: the share with exactly the right motions, with the right
        direction (clips with one linear mover), and the median fps error as a factor (1 = exact)."""
        target = targets(clips)
        hits = {"motions": [], "direction": [], "fps_factor": []}
        for reading, clip, wanted in zip(self.read(videos), clips, target["direction"]):
            hits["motions"].append(reading["motions"] == {o["motion"] for o in clip["objects"]})
            if wanted >= 0:
                hits["direction"].append(reading["direction"] == DIRECTIONS[int(wanted)])
            hits["fps_factor"].append(max(reading["fps"], clip["fps"]) / min(reading["fps"], clip["fps"]))
        factors = torch.tensor(hits.pop("fps_factor"))
        return {k: sum(v) / max(1, len(v)) for k, v in hits.items()} | {"fps_factor": float(factors.median())}


def targets(clips: list[dict]) -> dict[str, torch.Tensor]:
    """Ground truth of a batch of clips: motions (B, 4) in {0, 1}; direction (B,) class index, -100
    (ignored) unless exactly one object moves in a line; log2_fps (B,)."""
    motions = torch.tensor([[float(any(o["motion"] == m for o in c["objects"])) for m in MOTIONS] for c in clips])
    direction = []
    for c in clips:
        linear = [o for o in c["objects"] if o["motion"] == "linear"]
        direction.append(DIRECTIONS.index(linear[0]["direction"]) if len(linear) == 1 else -100)
    log2_fps = torch.log2(torch.tensor([float(c["fps"]) for c in clips]))
    return {"motions": motions, "direction": torch.tensor(direction), "log2_fps": log2_fps}


class MotionStream(ClipStream):
    """Batches of (clips (B, 3, T, H, W), their attribute dicts): the motion oracle's ground truth."""

    def _batch(self, indices):
        return self.world.videos(indices, self.frames, [self.fps_of(i) for i in indices])


def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
           samples: int) -> MotionStream:
    w = preset.world
    return MotionStream(ShapesWorld(size=w.image_size, seed=data_seed), batch_size, w.frames, w.fps_range, position)


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    videos, clips = batch
    device = generator.device
    out = {k: v.float() for k, v in model(videos.to(device)).items()}
    target = {k: v.to(device) for k, v in targets(clips).items()}
    direction = F.cross_entropy(out["direction"], target["direction"], ignore_index=-100) \
        if (target["direction"] >= 0).any() else out["direction"].sum() * 0
    return (F.binary_cross_entropy_with_logits(out["motions"], target["motions"]) * len(MOTIONS) + direction
            + F.mse_loss(out["log2_fps"], target["log2_fps"]))


register_stage(Stage(
    name="video_oracle",
    description="the motion oracle whose features FVD-lite compares (notebook 07)",
    sizes=lambda p: p.video_oracle,
    build=lambda preset, options: VideoOracle(preset.world.image_size, preset.video_oracle.width),
    stream=stream,
    loss=loss,
    sample=None,
    rebuild=lambda config: VideoOracle(**config),
))
