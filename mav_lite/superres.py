"""The super-resolution cascade (notebook 09): SR_l^t, spatiotemporal, then SR_h, per frame.

Both are diffusion U-Nets that draw the high-resolution picture given the low-resolution one,
upsampled (bilinear) and concatenated to their input (3 extra channels). Neither reads text: the
low-resolution clip already says what is where.

- Conditioning augmentation (Imagen, Saharia et al. 2022): in training the upsampled input is
  noised to a random level in [0, max_aug] of the noise schedule, and the network is told the level
  (its embedding takes the place of a conditioning vector). At sampling the level is chosen (`aug`):
  a little noise hides the difference between the real renders SR trained on and the generated
  clips it is given.
- SR_l^t (`sr_low`): a pseudo-3D U-Net built with D^t's layers, trained on images first
  (`sr_low_image`) and inflated, as the paper does; it sees a whole clip (and its fps), so the detail
  it adds agrees from frame to frame.
- SR_h (`sr_high`): a 2D U-Net trained on images, run on every frame; at sampling every frame starts
  from **the same noise** (the paper's trick), so the detail it invents is the same where the frames
  are the same (`shared_noise=False` draws each frame's own, to show the flicker).

Long clips go through in chunks of frames (`chunk`): SR_h's chunks give exactly the unchunked result
(the noise is drawn for the whole clip first); SR_l^t's chunks see only their own frames, and the
chain gives it chunks of the length it trained on (the preset's base clip length; upF's clips are
longer), at the frame rates upF outputs (its training fps reach frame_skip times the base range).

    mav-lite train sr_low_image --preset cpu --out runs/sr_low_image
    mav-lite train sr_low --preset cpu --option sr_low_image=runs/sr_low_image --out runs/sr_low
    mav-lite train sr_high --preset cpu --out runs/sr_high
    high = sample(sr_h, low_video, size=128, steps=20, seed=0)     # (B, 3, T, 128, 128)
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from einops import rearrange

from . import diffusion
from .config import Preset
from .data import ResolutionPairStream, ShapesWorld
from .decoder import SCHEDULE, conditioned_loss
from .metrics import clip_frames
from .pseudo3d import VideoUNet, inflate
from .train import Stage, register_stage
from .unet import UNet, per_frame, timestep_embedding
from .video_decoder import fps_per_clip, load_parent

OPTIONS = {"prediction": "v", "timesteps": 1000, "min_snr_gamma": 5.0, "drop_prob": 0.0, "max_aug": 0.5}
VIDEO_OPTIONS = OPTIONS | {"sr_low_image": None}  # SR_l^t: the sr_low_image run it inflates (None: the reference)
INHERITED = ("prediction", "timesteps")  # SR_l's options that SR_l^t must share
SAMPLE_AUG = 0.1  # the conditioning augmentation level at sampling (training draws from [0, max_aug])
SR_H_CHUNK = 4  # frames per SR_h pass in the chain: memory of batch x 4 frames, however long the clip


def upsampled(low: torch.Tensor, size: int) -> torch.Tensor:
    """Images (B, 3, h, w) or clips (B, 3, T, h, w) -> the same at size x size, bilinear (every frame)."""
    if low.ndim not in (4, 5) or low.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, h, w) or clips (B, 3, T, h, w), got shape {tuple(low.shape)}")
    return per_frame(lambda x: F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False), low)


def match_low(high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """Pictures (N, 3, H, W) or clips (B, 3, T, H, W) made consistent with their low-resolution
    versions (H = s h, s whole): each s x s block's mean is replaced by its low pixel, the detail
    inside the block is kept. A Shapes World render at h is the block means of the render at H (to
    54 dB), so this is the exact projection onto the pictures that shrink to the input: x + A+(y - Ax)
    with A the block mean and A+ its copy into the block (the range-null space split of DDNM,
    Wang et al. 2023)."""
    s = high.shape[-1] // low.shape[-1]
    if high.shape[-2:] != (s * low.shape[-2], s * low.shape[-1]):
        raise ValueError(f"{tuple(high.shape[-2:])} is not a whole multiple of {tuple(low.shape[-2:])}")
    residual = low.to(high.dtype) - per_frame(lambda x: F.avg_pool2d(x, s), high)
    return high + per_frame(lambda r: F.interpolate(r, scale_factor=s, mode="nearest"), residual)


def augment(condition: torch.Tensor, level: torch.Tensor, generator: torch.Generator | None = None,
            timesteps: int = 1000, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Conditioning augmentation: the upsampled input noised to `level` (B,) in [0, 1] of the
    schedule, q(z_s | x) = N(sqrt(abar_s) x, (1 - abar_s) I) with s = level * (timesteps - 1);
    `noise` (broadcastable) instead of a fresh draw."""
    schedule = diffusion.schedule_for(SCHEDULE, timesteps)
    s = (level * (timesteps - 1)).round().long().to(condition.device)
    if noise is None:
        noise = torch.randn(condition.shape, generator=generator, device=condition.device)
    return diffusion.q_sample(condition, s, noise.expand_as(condition), schedule)


def aug_embedding(level: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) augmentation levels in [0, 1] -> (B, dim): what the U-Net is told, in place of y_e."""
    return timestep_embedding(level * 1000, dim)


def build_image(preset: Preset, sizes) -> UNet:
    """An SR U-Net: no attention (its levels are large), 3 extra input channels, the level as condition."""
    return UNet(sizes.channels, sizes.channel_mults, attention_levels=(), res_blocks=2, cond_dim=sizes.channels,
                extra_channels=3)


@torch.no_grad()
def sample(sr: UNet, low: torch.Tensor, size: int, aug: float = SAMPLE_AUG, steps: int = 20, seed=None,
           generator: torch.Generator | None = None, fps=None, shared_noise: bool = True, chunk: int | None = None,
           prediction: str = "v", timesteps: int = 1000, progress: bool = False, consistent: bool = True
           ) -> torch.Tensor:
    """Low-resolution images (B, 3, h, w) or clips (B, 3, T, h, w) in [-1, 1] -> (..., size, size).

    SR_l^t (a VideoUNet) takes clips with their fps; an image U-Net (SR_h) runs on every frame of a
    clip, from the same starting noise unless shared_noise=False. chunk: frames per pass (None: all).
    consistent: keep every predicted x_0 consistent with the input (`match_low`; size must then be a
    whole multiple of the input's); False lets the network redraw the input's colours too.
    """
    if low.ndim not in (4, 5) or low.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, h, w) or clips (B, 3, T, h, w), got shape {tuple(low.shape)}")
    h, w = low.shape[-2:]
    if h != w or h < 2:
        raise ValueError(f"expected square pictures of at least 2x2 pixels, got {h}x{w}")
    if size <= w:
        raise ValueError(f"super-resolution goes up: {w}x{w} -> {size}x{size} is not larger")
    if not 0 <= aug <= 1:
        raise ValueError(f"aug is a level of the noise schedule in [0, 1], got {aug}")
    if consistent and size % w:
        raise ValueError(f"consistency with the input needs a whole scale factor, got {w} -> {size}: "
                         "pass consistent=False, or a size that is a multiple of the input's")
    video_net = isinstance(sr, VideoUNet)
    if video_net and low.ndim != 5:
        raise ValueError(f"SR_l^t takes clips (B, 3, T, h, w), got shape {tuple(low.shape)}")
    if video_net and fps is None:
        raise ValueError("SR_l^t needs the clips' fps")
    if generator is not None and seed is not None:
        raise ValueError("give a generator or a seed, not both")
    device = next(sr.parameters()).device
    if generator is None:
        generator = torch.Generator(device).manual_seed(0 if seed is None else int(seed))
    low = low.to(device)
    b = len(low)
    levels = torch.full((b,), float(aug))
    if low.ndim == 4:  # images: one pass
        condition = augment(upsampled(low, size), levels, generator, timesteps)
        noise = torch.randn(b, 3, size, size, generator=generator, device=device)
        return _denoise(sr, noise, condition, aug, None, steps, prediction, timesteps, progress,
                        low if consistent else None)
    frames = low.shape[2]
    shared = shared_noise and not video_net  # SR_h: one draw for every frame, the start and the augmentation
    shape = (b, 3, 1 if shared else frames, size, size)
    condition = augment(upsampled(low, size), levels, timesteps=timesteps,
                        noise=torch.randn(shape, generator=generator, device=device))
    noise = torch.randn(shape, generator=generator, device=device).expand(b, 3, frames, size, size)
    fps = None if fps is None else fps_per_clip(fps, b, device)
    chunk = frames if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 frame, got {chunk}")
    out = []
    for start in range(0, frames, chunk):
        part = slice(start, start + chunk)
        if video_net:
            out.append(_denoise(sr, noise[:, :, part], condition[:, :, part], aug, fps, steps, prediction, timesteps,
                                progress, low[:, :, part] if consistent else None))
        else:  # every frame an image
            n = noise[:, :, part].shape[2]
            flat = _denoise(sr, clip_frames(noise[:, :, part]), clip_frames(condition[:, :, part]), aug, None, steps,
                            prediction, timesteps, progress, clip_frames(low[:, :, part]) if consistent else None)
            out.append(rearrange(flat, "(b t) c h w -> b c t h w", t=n))
    return torch.cat(out, dim=2)


def _denoise(sr, noise, condition, aug: float, fps, steps, prediction, timesteps, progress, low) -> torch.Tensor:
    """DDIM from the given noise (deterministic: eta 0), conditioned on the augmented input; every
    predicted x_0 made consistent with `low` unless it is None; the result clamped to [-1, 1]."""
    level = aug_embedding(torch.full((len(noise),), float(aug), device=noise.device), sr.config["cond_dim"])
    extra = {"concat": condition} | ({} if fps is None else {"fps": fps})
    model_fn = diffusion.classifier_free_guidance(sr, level, 1.0, **extra)
    out = diffusion.sample(model_fn, None, diffusion.schedule_for(SCHEDULE, timesteps), steps=steps,
                           prediction=prediction, x_T=noise, progress=progress,
                           constrain=None if low is None else lambda x0: match_low(x0, low))
    return out.clamp(-1, 1)  # the consistent x_0 may step out where the input is near-saturated


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """The diffusion loss of the high-resolution picture given the augmented, upsampled low one."""
    low, high, *fps = batch
    device = generator.device
    x0 = high.to(device)
    level = torch.rand(len(x0), generator=generator, device=device) * options["max_aug"]
    condition = augment(upsampled(low.to(device), x0.shape[-1]), level, generator, options["timesteps"])
    extra = {"fps": fps[0].to(device)} if fps else {}
    return conditioned_loss(model, x0, aug_embedding(level, model.config["cond_dim"]), generator, options,
                            concat=condition, **extra)


def _stage(name: str, description: str, sizes, frames: bool, build, rebuild, options: dict) -> Stage:
    def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int, samples: int):
        s, (low, high) = sizes(preset), preset.world.fps_range
        world = ShapesWorld(size=s.size_out, seed=data_seed)
        # SR_l^t works on upF's output: clips of world.frames at up to frame_skip times the base fps
        return ResolutionPairStream(world, batch_size, s.size_in, preset.world.frames if frames else 0,
                                    (low, high * preset.interpolation.frame_skip), position)

    def sample_grid(model, n: int, seed: int, preset: Preset, options: dict) -> torch.Tensor:
        """The trainer's sample grid: validation pictures upsampled by the model."""
        s, w = sizes(preset), preset.world
        world = ShapesWorld(size=s.size_in, seed=1)
        device = next(model.parameters()).device
        if frames:
            low, _ = world.videos(range(max(1, n // w.frames)), w.frames, w.fps)
            return clip_frames(sample(model, low.to(device), s.size_out, steps=s.sample_steps, seed=seed, fps=w.fps,
                                      prediction=options["prediction"], timesteps=options["timesteps"]))
        low = world.images(range(n))[0]
        return sample(model, low.to(device), s.size_out, steps=s.sample_steps, seed=seed,
                      prediction=options["prediction"], timesteps=options["timesteps"])

    return register_stage(Stage(name=name, description=description, sizes=sizes, build=build, stream=stream,
                                loss=loss, sample=sample_grid, rebuild=rebuild, options=options))


def _image_sizes(preset: Preset):
    """SR_l's image pretraining: SR_l^t's sizes, a batch of as many images as its clips hold frames."""
    return dataclasses.replace(preset.sr_low, batch_size=preset.sr_low.batch_size * preset.world.frames)


def _build_video(preset: Preset, options: dict) -> VideoUNet:
    image_sr = load_parent("sr_low_image", preset, options, OPTIONS, "SR_l^t", INHERITED)
    return inflate(image_sr, max(32, preset.frames_after_upf))


_stage("sr_low_image", "SR_l's image pretraining: low-res image -> 2x image (inflated into SR_l^t)", _image_sizes,
       False, lambda p, o: build_image(p, p.sr_low), lambda config: UNet(**config), OPTIONS)
_stage("sr_low", "SR_l^t: spatiotemporal super-resolution, SR_l inflated, trained on clips (notebook 09)",
       lambda p: p.sr_low, True, _build_video, lambda config: VideoUNet(**config), VIDEO_OPTIONS)
_stage("sr_high", "SR_h: per-frame super-resolution, trained on images, shared noise at sampling (notebook 09)",
       lambda p: p.sr_high, False, lambda p, o: build_image(p, p.sr_high), lambda config: UNet(**config), OPTIONS)
