"""The video decoder D^t: D inflated with pseudo-3D layers, trained on unlabeled video (notebook 07).

Make-A-Video never trains on text-video pairs. D already draws an image from a CLIP image embedding
y_e; `inflate(D)` adds temporal layers that start as the identity (pseudo3d.py), and D^t learns
motion from clips without captions:

- each clip is conditioned on y_e = C_y(its middle frame). Objects move, so the middle frame is
  the one nearest to every other frame, and the embedding describes the clip best there; at
  generation time y_e comes from the prior P and D^t draws a clip around that picture.
- fps is a second condition (an embedding added to the timestep's, zero at inflation). Clips are
  drawn at a random fps in the preset's range with the paper's curriculum: high fps first (little
  motion per frame), the whole range after `curriculum` (a fraction, 0.5) of the run's clips.
- `start="inflate"` (the paper) or `start="scratch"` (the same architecture, random weights: the
  baseline of notebook 07); `train="all"` (the paper trains jointly) or `train="temporal"` (the
  spatial layers stay D's, frozen). Inflating D carries D's recipe over: its CLIP-lite, prediction
  and noise schedule must be D^t's too.

    mav-lite train video_decoder --preset cpu --lr 2e-4 --out runs/video_decoder
    video = sample(video_decoder, y_e, frames=8, size=32, fps=8, seed=0)   # (B, 3, T, H, W) in [-1, 1]
"""

from __future__ import annotations

import torch

from . import diffusion
from .checkpoints import load_model, load_pretrained
from .clip import frozen_clip
from .config import Preset
from .data import ClipStream, ShapesWorld
from .decoder import OPTIONS as IMAGE_OPTIONS
from .decoder import SCHEDULE, conditioned_loss, image_embedding
from .decoder import build as build_image_decoder
from .metrics import clip_frames
from .pseudo3d import VideoUNet, inflate, temporal_parameter_names
from .train import Stage, register_stage

OPTIONS = {**IMAGE_OPTIONS, "decoder": None, "start": "inflate", "train": "all", "curriculum": 0.5}
INHERITED = ("clip", "embedding", "prediction", "timesteps")  # D's options that D^t must share
STARTS, TRAINS = ("inflate", "scratch"), ("all", "temporal")


def conditioning_frame(videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B, 3, H, W): the middle frame, whose C_y embedding conditions the clip."""
    return videos[:, :, videos.shape[2] // 2]


def fps_per_clip(fps, clips: int, device) -> torch.Tensor:
    """One number or one per clip -> (clips,) float fps on `device`: what the video U-Nets take."""
    fps = torch.as_tensor(fps, dtype=torch.float32, device=device)
    fps = fps.expand(clips) if fps.ndim == 0 else fps
    if fps.shape != (clips,):
        raise ValueError(f"fps must be one number or one per clip ({clips}), got shape {tuple(fps.shape)}")
    return fps


@torch.no_grad()
def sample(video_decoder: VideoUNet, y_e: torch.Tensor, frames: int, size: int, fps=8, guidance: float = 3.0,
           steps: int = 25, seed=None, generator: torch.Generator | None = None, prediction: str = "v",
           timesteps: int = 1000, progress: bool = False) -> torch.Tensor:
    """Image embeddings (B, D) -> clips (B, 3, frames, size, size) in [-1, 1] at `fps`, DDIM with guidance."""
    if y_e.ndim != 2 or y_e.shape[1] != video_decoder.config["cond_dim"]:
        raise ValueError(f"expected image embeddings of shape (B, {video_decoder.config['cond_dim']}), "
                         f"got {tuple(y_e.shape)}")
    device = next(video_decoder.parameters()).device
    fps = fps_per_clip(fps, len(y_e), device)
    model_fn = diffusion.classifier_free_guidance(video_decoder, y_e.to(device), guidance, fps=fps)
    return diffusion.sample(model_fn, (len(y_e), 3, frames, size, size), diffusion.schedule_for(SCHEDULE, timesteps),
                            steps=steps, prediction=prediction, generator=generator,
                            seed=None if generator is not None else seed, device=device, progress=progress)


def load_parent(stage: str, preset: Preset, options: dict, defaults: dict, child: str,
                inherited: tuple[str, ...] = INHERITED) -> torch.nn.Module:
    """The trained network `child` starts from (D for D^t, D^t for upF): the run folder in option
    `stage`, or its reference (None); of the same preset and with the same `inherited` options (by
    default its CLIP-lite, its prediction and its noise schedule)."""
    folder = options[stage]
    model, card = load_pretrained(stage) if folder is None else load_model(folder, stage)
    name = folder or f"the reference {stage}"
    if card["preset"] != preset.name:
        raise ValueError(f"{child} in preset {preset.name!r} starts from a {stage} of the same preset, but {name} "
                         f"was trained with {card['preset']!r}: train one with `mav-lite train {stage} --preset "
                         f"{preset.name} --out runs/{stage}-{preset.name}` and pass "
                         f"--option {stage}=runs/{stage}-{preset.name}")
    trained = {**defaults, **card["identity"]["options"]}
    different = {k: (trained[k], options[k]) for k in inherited if trained[k] != options[k]}
    if different:
        raise ValueError(f"{name} was trained with other options than this {child}: " + ", ".join(
            f"{k}={d!r} ({child}: {t!r})" for k, (d, t) in different.items()) + "; pass the same --option values")
    return model


def build(preset: Preset, options: dict) -> VideoUNet:
    if options["start"] not in STARTS or options["train"] not in TRAINS:
        raise ValueError(f"start must be one of {STARTS} and train one of {TRAINS}, "
                         f"got {options['start']!r} and {options['train']!r}")
    if options["start"] == "scratch" and options["train"] == "temporal":
        raise ValueError("train='temporal' freezes the spatial layers: with start='scratch' they would stay random")
    max_frames = max(32, preset.world.frames)
    if options["start"] == "inflate":
        model = inflate(load_parent("decoder", preset, options, IMAGE_OPTIONS, "D^t"), max_frames)
    else:
        image_config = build_image_decoder(preset, options).config
        model = VideoUNet(max_frames=max_frames, **{k: v for k, v in image_config.items() if k != "fps_cond"})
    if options["train"] == "temporal":
        trained = set(temporal_parameter_names(model))
        for name, p in model.named_parameters():
            p.requires_grad_(name in trained)
    return model


def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
           samples: int) -> ClipStream:
    w = preset.world
    if not 0 <= options["curriculum"] <= 1:
        raise ValueError(f"curriculum is the share of the run over which fps opens up, in [0, 1]; "
                         f"got {options['curriculum']}")
    return ClipStream(ShapesWorld(size=w.image_size, seed=data_seed), batch_size, w.frames, w.fps_range, position,
                      curriculum=round(options["curriculum"] * samples))


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """The diffusion loss of unlabeled clips given y_e of their middle frame and their fps."""
    videos, fps = batch
    device = generator.device
    x0 = videos.to(device)
    with torch.no_grad():
        y_e = image_embedding(frozen_clip(options["clip"], str(device)), conditioning_frame(x0), model)
    return conditioned_loss(model, x0, y_e, generator, options, fps=fps.to(device))


def sample_grid(model, n: int, seed: int, preset: Preset, options: dict) -> torch.Tensor:
    """The trainer's sample grid: D^t redraws validation clips (one row each) from their middle frame."""
    w = preset.world
    clips = max(1, n // w.frames)
    videos, _ = ShapesWorld(size=w.image_size, seed=1).videos(range(clips), w.frames, w.fps)
    device = next(model.parameters()).device
    y_e = image_embedding(frozen_clip(options["clip"], str(device)), conditioning_frame(videos).to(device), model)
    out = sample(model, y_e, w.frames, w.image_size, w.fps, preset.video.guidance, preset.video.sample_steps,
                 seed=seed, prediction=options["prediction"], timesteps=options["timesteps"])
    return clip_frames(out)  # one row of frames per clip


register_stage(Stage(
    name="video_decoder",
    description="the video decoder D^t: D inflated with pseudo-3D layers, trained on unlabeled video (notebook 07)",
    sizes=lambda p: p.video,
    build=build,
    stream=stream,
    loss=loss,
    sample=sample_grid,
    rebuild=lambda config: VideoUNet(**config),
    options=OPTIONS,
))
