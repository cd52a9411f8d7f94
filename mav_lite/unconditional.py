"""The course's first diffusion model: an unconditional image model of Shapes World (notebook 02).

It learns p(x) for the world's images with no text at all: the U-Net of `unet.py` at the sizes of
D (`preset.decoder`), trained with `diffusion.py`'s loss. Registered as the `unconditional` stage:

    mav-lite train unconditional --preset cpu --steps 1500 --out runs/unconditional

Options: prediction ("v" or "eps" or "x0"; on this data v gives clean backgrounds where eps leaves
noise), schedule ("cosine" or "linear"), timesteps, min_snr_gamma (None for plain MSE).
"""

from __future__ import annotations

import torch

from . import diffusion
from .config import Preset
from .train import Stage, register_stage, shapes_image_stream
from .unet import UNet

OPTIONS = {"prediction": "v", "schedule": "cosine", "timesteps": 1000, "min_snr_gamma": None}


def build(preset: Preset, options: dict) -> UNet:
    d = preset.decoder
    return UNet(d.channels, d.channel_mults, d.attention_levels, res_blocks=d.res_blocks)


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """Noise clean images to a random timestep and score the model's prediction (eq. of DDPM)."""
    images, _captions = batch
    device = generator.device
    x0 = images.to(device)
    schedule = diffusion.schedule_for(options["schedule"], options["timesteps"])
    t = diffusion.sample_timesteps(len(x0), schedule, generator, device)
    noise = torch.randn(x0.shape, generator=generator, device=device)
    output = model(diffusion.q_sample(x0, t, noise, schedule), t)
    return diffusion.diffusion_loss(output, x0, noise, t, schedule, options["prediction"], options["min_snr_gamma"])


def sample(model, n: int, seed: int, preset: Preset, options: dict, steps: int | None = None,
           sampler: str = "ddim", progress: bool = False) -> torch.Tensor:
    """n images (n, 3, H, W) in [-1, 1], drawn with DDIM (or DDPM) from a seed."""
    size = preset.world.image_size
    device = next(model.parameters()).device
    return diffusion.sample(lambda x, t: model(x, t), (n, 3, size, size),
                            diffusion.schedule_for(options["schedule"], options["timesteps"]),
                            steps=steps or (preset.decoder.sample_steps if sampler == "ddim" else None),
                            sampler=sampler, prediction=options["prediction"], seed=seed, device=device,
                            progress=progress)


register_stage(Stage(
    name="unconditional",
    description="an unconditional image diffusion model of Shapes World (notebook 02)",
    sizes=lambda p: p.decoder,
    build=build,
    stream=shapes_image_stream,
    loss=loss,
    sample=sample,
    options=OPTIONS,
    rebuild=lambda config: UNet(**config),
))
