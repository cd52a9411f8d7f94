"""Presets ("profiles"): every size and step count in the course, in one place.

`MAV_LITE_PROFILE` picks a preset (`ci`, `cpu`, `gpu`, `paper`); without it the default is `gpu`
when CUDA is available, else `cpu`. Notebooks, commands and tests read sizes only from here:

    from mav_lite.config import get_preset
    preset = get_preset()          # or get_preset("ci")
    preset.world.image_size, preset.decoder.channels, ...

One frozen dataclass per stage of the chain (paper symbols in brackets). Later stages read the
sizes of earlier ones (D^t inflates D, so it shares D's widths).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

ENV_VAR = "MAV_LITE_PROFILE"


@dataclass(frozen=True)
class WorldSizes:
    """Shapes World: the resolution D and D^t work at, and the base clip."""

    image_size: int  # D's resolution; base video frames are this size too
    frames: int  # frames in a base clip made by D^t
    fps: int  # default frames per second of a base clip
    fps_range: tuple[int, int]  # fps sampled during video training (paper: 1..30)


@dataclass(frozen=True)
class ClipSizes:
    """CLIP-lite text and image encoders (C_x, C_y)."""

    embed_dim: int
    width: int
    layers: int
    heads: int
    context: int  # longest caption, in tokens
    batch_size: int
    train_steps: int


@dataclass(frozen=True)
class OracleSizes:
    """The attribute oracle that judges generated images (metrics)."""

    width: int
    batch_size: int
    train_steps: int


@dataclass(frozen=True)
class PriorSizes:
    """The diffusion prior P: text embedding (+ tokens) -> image embedding."""

    width: int
    layers: int
    heads: int
    batch_size: int
    train_steps: int
    sample_steps: int
    guidance: float


@dataclass(frozen=True)
class UNetSizes:
    """The image decoder D (and the widths D^t inherits from it)."""

    channels: int  # width of the first level
    channel_mults: tuple[int, ...]  # one entry per resolution level
    attention_levels: tuple[int, ...]  # levels (0 = full resolution) with self-attention
    res_blocks: int  # residual blocks per level on the way down
    batch_size: int
    train_steps: int
    sample_steps: int
    guidance: float


@dataclass(frozen=True)
class VideoSizes:
    """The video decoder D^t: D inflated with pseudo-3D layers, trained on unlabeled video."""

    batch_size: int  # clips per step
    train_steps: int
    sample_steps: int
    guidance: float


@dataclass(frozen=True)
class InterpolationSizes:
    """Masked frame interpolation upF: T frames -> (T - 1) * frame_skip + 1 frames."""

    frame_skip: int
    window: int  # frames upF trains on and fills at once; longer clips go in windows
    batch_size: int
    train_steps: int
    sample_steps: int
    guidance: float
    blend_start: float = 0.1  # upsample_frames starts from the linear blend noised this far (1.0: pure noise)


@dataclass(frozen=True)
class SuperResSizes:
    """A super-resolution stage: SR_l^t (spatiotemporal) or SR_h (per frame)."""

    size_in: int
    size_out: int
    channels: int
    channel_mults: tuple[int, ...]
    batch_size: int
    train_steps: int
    sample_steps: int


@dataclass(frozen=True)
class Preset:
    name: str
    purpose: str
    world: WorldSizes
    clip: ClipSizes
    oracle: OracleSizes
    video_oracle: OracleSizes  # the motion oracle behind FVD-lite
    prior: PriorSizes
    decoder: UNetSizes
    video: VideoSizes
    interpolation: InterpolationSizes
    sr_low: SuperResSizes  # SR_l^t
    sr_high: SuperResSizes  # SR_h
    eval_clips: int  # prompts in `mav-lite eval`'s set (chain_eval.EvalSet)
    eval_frames: int | None = None  # base frames of `mav-lite eval`'s clips (None: the weights' own)

    @property
    def frames_after_upf(self) -> int:
        """(T - 1) * k + 1: the paper's 16 frames with skip 5 give 76."""
        return (self.world.frames - 1) * self.interpolation.frame_skip + 1

    def summary(self) -> str:
        """One line a notebook or command prints so the reader knows what it runs."""
        w = self.world
        return (
            f"preset '{self.name}' ({self.purpose}): base video {w.frames} frames @{w.image_size}^2"
            f" -> upF {self.frames_after_upf} frames -> SR_l^t @{self.sr_low.size_out}^2"
            f" -> SR_h @{self.sr_high.size_out}^2"
        )

    def chain_steps(self) -> dict:
        """The DDIM steps of each stage as `MakeAVideoLite.text_to_video` takes them (the SR stages share one)."""
        return {"steps": self.video.sample_steps, "prior_steps": self.prior.sample_steps,
                "upf_steps": self.interpolation.sample_steps, "sr_steps": self.sr_low.sample_steps}

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "ci": Preset(
        name="ci",
        purpose="CI: every notebook in about a minute on 2 CPU cores; results are not meant to look good",
        world=WorldSizes(image_size=16, frames=4, fps=8, fps_range=(2, 24)),
        clip=ClipSizes(embed_dim=32, width=32, layers=1, heads=2, context=32, batch_size=32, train_steps=150),
        oracle=OracleSizes(width=16, batch_size=32, train_steps=60),
        video_oracle=OracleSizes(width=8, batch_size=8, train_steps=30),
        prior=PriorSizes(width=32, layers=1, heads=2, batch_size=32, train_steps=30,
                                         sample_steps=8, guidance=2.0),
        decoder=UNetSizes(channels=16, channel_mults=(1, 2), attention_levels=(1,), res_blocks=1, batch_size=16,
                          train_steps=100, sample_steps=8, guidance=3.0),
        video=VideoSizes(batch_size=2, train_steps=20, sample_steps=8, guidance=3.0),
        interpolation=InterpolationSizes(frame_skip=2, window=5, batch_size=2, train_steps=20,
                                         sample_steps=2, guidance=2.0),
        sr_low=SuperResSizes(size_in=16, size_out=32, channels=16, channel_mults=(1, 2), batch_size=2,
                             train_steps=20, sample_steps=1),
        sr_high=SuperResSizes(size_in=32, size_out=64, channels=16, channel_mults=(1, 2), batch_size=4,
                              train_steps=20, sample_steps=1),
        eval_clips=6,
        eval_frames=4,
    ),
    "cpu": Preset(
        name="cpu",
        purpose="a laptop: each stage trains in 15-45 minutes on 2 cores",
        world=WorldSizes(image_size=32, frames=8, fps=8, fps_range=(1, 30)),
        clip=ClipSizes(embed_dim=64, width=96, layers=3, heads=4, context=32, batch_size=128, train_steps=2000),
        oracle=OracleSizes(width=32, batch_size=128, train_steps=1500),
        video_oracle=OracleSizes(width=16, batch_size=32, train_steps=1500),
        prior=PriorSizes(width=128, layers=4, heads=4, batch_size=128, train_steps=2000, sample_steps=25,
                         guidance=2.0),
        decoder=UNetSizes(channels=32, channel_mults=(1, 2, 2), attention_levels=(2,), res_blocks=2, batch_size=32,
                          train_steps=1500, sample_steps=25, guidance=3.0),
        video=VideoSizes(batch_size=4, train_steps=1500, sample_steps=25, guidance=3.0),
        # upF and the SR stages: as good in half the DDIM steps as in 25 / 20, upF as good unguided (README, Speed)
        interpolation=InterpolationSizes(frame_skip=4, window=9, batch_size=4, train_steps=1500,
                                         sample_steps=12, guidance=1.0),
        sr_low=SuperResSizes(size_in=32, size_out=64, channels=32, channel_mults=(1, 2, 2), batch_size=2,
                             train_steps=1500, sample_steps=10),
        sr_high=SuperResSizes(size_in=64, size_out=128, channels=24, channel_mults=(1, 2, 2), batch_size=8,
                              train_steps=1500, sample_steps=10),
        eval_clips=64,
    ),
    "gpu": Preset(
        name="gpu",
        purpose="one GPU: each stage trains in minutes",
        world=WorldSizes(image_size=32, frames=16, fps=8, fps_range=(1, 30)),
        clip=ClipSizes(embed_dim=128, width=192, layers=4, heads=4, context=32, batch_size=512, train_steps=4000),
        oracle=OracleSizes(width=32, batch_size=512, train_steps=2000),
        video_oracle=OracleSizes(width=32, batch_size=128, train_steps=2000),
        prior=PriorSizes(width=256, layers=6, heads=8, batch_size=512, train_steps=6000, sample_steps=50,
                         guidance=2.0),
        decoder=UNetSizes(channels=64, channel_mults=(1, 2, 2), attention_levels=(2,), res_blocks=2, batch_size=256,
                          train_steps=4500, sample_steps=50, guidance=3.0),
        video=VideoSizes(batch_size=32, train_steps=5000, sample_steps=50, guidance=3.0),
        interpolation=InterpolationSizes(frame_skip=5, window=11, batch_size=32, train_steps=4000,
                                         sample_steps=50, guidance=2.0),
        sr_low=SuperResSizes(size_in=32, size_out=128, channels=48, channel_mults=(1, 2, 2, 4), batch_size=8,
                             train_steps=4000, sample_steps=30),
        sr_high=SuperResSizes(size_in=128, size_out=256, channels=32, channel_mults=(1, 2, 2, 4), batch_size=32,
                              train_steps=4000, sample_steps=30),
        eval_clips=128,
    ),
    "paper": Preset(
        name="paper",
        purpose="the paper's shapes, for big GPUs and real data",
        world=WorldSizes(image_size=64, frames=16, fps=8, fps_range=(1, 30)),
        clip=ClipSizes(embed_dim=256, width=384, layers=6, heads=8, context=32, batch_size=1024, train_steps=20000),
        oracle=OracleSizes(width=64, batch_size=512, train_steps=4000),
        video_oracle=OracleSizes(width=64, batch_size=128, train_steps=4000),
        prior=PriorSizes(width=512, layers=8, heads=8, batch_size=1024, train_steps=20000, sample_steps=64,
                         guidance=2.0),
        decoder=UNetSizes(channels=128, channel_mults=(1, 2, 3, 4), attention_levels=(2, 3), res_blocks=2,
                          batch_size=256,
                          train_steps=50000, sample_steps=100, guidance=3.0),
        video=VideoSizes(batch_size=32, train_steps=50000, sample_steps=100, guidance=3.0),
        interpolation=InterpolationSizes(frame_skip=5, window=11, batch_size=32, train_steps=20000,
                                         sample_steps=50, guidance=2.0),
        sr_low=SuperResSizes(size_in=64, size_out=256, channels=64, channel_mults=(1, 2, 4, 4), batch_size=8,
                             train_steps=20000, sample_steps=50),
        sr_high=SuperResSizes(size_in=256, size_out=768, channels=32, channel_mults=(1, 2, 4, 4), batch_size=8,
                              train_steps=20000, sample_steps=50),
        eval_clips=256,
    ),
}


def default_preset_name() -> str:
    """`MAV_LITE_PROFILE` if set, else `gpu` with CUDA and `cpu` without."""
    name = os.environ.get(ENV_VAR, "").strip()
    if name:
        return name
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def get_preset(name: str | None = None) -> Preset:
    """The preset called `name`, or the default one (see `default_preset_name`)."""
    name = default_preset_name() if name is None else name
    try:
        return PRESETS[name]
    except KeyError:
        source = f" (from ${ENV_VAR})" if name == os.environ.get(ENV_VAR, "").strip() else ""
        raise ValueError(
            f"unknown preset {name!r}{source}; valid presets: {', '.join(PRESETS)}"
        ) from None
