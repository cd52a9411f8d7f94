"""The image decoder D: a U-Net diffusion model that draws an image from a CLIP image embedding (notebook 05).

As in the paper, D never reads text: it learns p(image | embedding) from images alone, with the
embedding taken from the image by the frozen CLIP-lite's C_y. At generation time the embedding comes
from the prior P instead, and the chain text -> C_x -> P -> D draws what the prompt says.

The embedding is C_y's 4x4 map before its projection to y_e (1,536 numbers for the reference
CLIP-lite, `CLIPLite.encode_image(as_map=True)`): y_e mixes the objects of a scene together, the map
keeps each in its own cell (README, The map route). D reads each cell only where it lies: through one
shared linear layer added to the stem's output over the cell's own pixels (`cond_input`), and as an
8x8 map added at the bottleneck (`UNet(cond_grid=4, cond_map=...)`); option `cond_mix=N` first
reads the 16 cells together with N Transformer layers that start as the identity (`unet.CellMixer`), so
a cell can tell its object from a neighbour's bleeding into it, and option `object_weight` lifts the
objects' pixels in the loss (`object_weights`); neither raised binding beyond noise through the chain,
fine-tuned from the reference or (object weights) trained from scratch (README, Where D loses
binding). With a FiLM scale-shift from the whole map in every residual block instead
(`cond_film=true`), the same for both objects, D drew two-object scenes with each other's colours. Option `embedding="vector"` is the paper's y_e (64
numbers), read through FiLM (*what*) and a bottleneck map (*where*). For 10% of the training samples
the embedding is replaced by a learned null embedding, so that classifier-free guidance can push
samples towards it. v-prediction on a cosine schedule (notebook 02 showed why: clean backgrounds),
the loss weighted by min(SNR, 5) / (SNR + 1) (min-SNR, Hang et al. 2023; option `min_snr_gamma`, None
for plain MSE), which learned colours about 3x faster here.

    mav-lite train decoder --preset cpu --lr 1e-3 --out runs/decoder
    images = sample(decoder, clip.encode_image(x, as_map=True), size=32, guidance=3.0, steps=25, seed=0)

D^t (notebook 07) inflates this network with temporal layers and keeps its weights.
"""

from __future__ import annotations

import torch

from . import diffusion
from .clip import GRID, CLIPLite, frozen_clip
from .config import Preset
from .data import ShapesWorld
from .train import Stage, register_stage, shapes_image_stream
from .unet import UNet

OPTIONS = {"clip": None, "embedding": "map", "drop_prob": 0.1, "prediction": "v", "timesteps": 1000,
           "min_snr_gamma": 5.0, "cond_input": True, "cond_film": False, "cond_mix": 0, "object_weight": 0.0}
EMBEDDINGS = ("vector", "map")  # y_e, or C_y's 4x4 map (`CLIPLite.encode_image(as_map=True)`)


def map_embedding(options: dict) -> bool:
    """Whether a stage's option `embedding` asks for C_y's map (True) or y_e (False)."""
    if options["embedding"] not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {options['embedding']!r}")
    return options["embedding"] == "map"
SCHEDULE = "cosine"


@torch.no_grad()
def sample(decoder: UNet, y_e: torch.Tensor, size: int, guidance: float = 3.0, steps: int = 25, seed=None,
           generator: torch.Generator | None = None, prediction: str = "v", timesteps: int = 1000,
           progress: bool = False) -> torch.Tensor:
    """Image embeddings (B, D) -> images (B, 3, size, size) in [-1, 1], DDIM with guidance."""
    if y_e.ndim != 2 or y_e.shape[1] != decoder.config["cond_dim"]:
        raise ValueError(f"expected image embeddings of shape (B, {decoder.config['cond_dim']}), "
                         f"got {tuple(y_e.shape)}")
    device = next(decoder.parameters()).device
    model_fn = diffusion.classifier_free_guidance(decoder, y_e.to(device), guidance)
    return diffusion.sample(model_fn, (len(y_e), 3, size, size), diffusion.schedule_for(SCHEDULE, timesteps),
                            steps=steps, prediction=prediction, generator=generator,
                            seed=None if generator is not None else seed, device=device, progress=progress)


def image_embedding(clip: CLIPLite, images: torch.Tensor, model) -> torch.Tensor:
    """What `model` (D, D^t or upF) is conditioned on for these images: y_e, or C_y's 4x4 map for a
    U-Net built with a grid condition (option `embedding="map"`)."""
    return clip.encode_image(images, as_map=bool(model.config["cond_grid"]))


def build(preset: Preset, options: dict) -> UNet:
    d, clip, as_map = preset.decoder, frozen_clip(options["clip"]), map_embedding(options)
    bottleneck = preset.world.image_size // 2 ** (len(d.channel_mults) - 1)
    return UNet(d.channels, d.channel_mults, d.attention_levels, res_blocks=d.res_blocks,
                cond_dim=clip.map_dim if as_map else clip.config["embed_dim"], cond_map=bottleneck,
                cond_grid=GRID if as_map else 0, cond_input=options["cond_input"] and as_map,
                cond_film=options["cond_film"] or not as_map,  # y_e has no cells: FiLM reads it
                cond_mix=options["cond_mix"] if as_map else 0)


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """The diffusion loss of images given their own CLIP image embedding (dropped 10% of the time)."""
    images, _captions = batch  # the captions are not used: D learns from images alone
    x0 = images.to(generator.device)
    with torch.no_grad():
        y_e = image_embedding(frozen_clip(options["clip"], str(generator.device)), x0, model)
    weight = object_weights(x0, options["object_weight"]) if options["object_weight"] else None
    return conditioned_loss(model, x0, y_e, generator, options, pixel_weight=weight)


def object_weights(images: torch.Tensor, strength: float, threshold: float = 0.1) -> torch.Tensor:
    """Per-pixel loss weights (B, 1, H, W) that lift the objects over the background, from the images alone.

    A tiny object is 1% of the pixels, so a plain MSE barely minds its colour (README, Where D loses
    binding). A pixel is an object's where it differs by more than `threshold` from its row's median:
    Shapes World's backgrounds are constant along each row, and a row is mostly background. Object
    pixels weigh 1 + strength, the others 1, then each image's weights are scaled to a mean of 1 so the
    loss keeps its size. (Where objects cover more than half a row, that row's background is lifted
    too: 0.3% of the background pixels of Shapes World images, harmless.)
    """
    background = images.median(dim=-1, keepdim=True).values  # (B, C, H, 1)
    objects = (images - background).abs().amax(dim=1, keepdim=True) > threshold  # (B, 1, H, W)
    weight = 1 + strength * objects.float()
    return weight / weight.mean(dim=(1, 2, 3), keepdim=True)


def conditioned_loss(model, x0: torch.Tensor, y_e: torch.Tensor, generator: torch.Generator, options: dict,
                     pixel_weight: torch.Tensor | None = None, **extra) -> torch.Tensor:
    """The diffusion loss of images or videos x0 given y_e (and `extra` inputs such as fps): D's and D^t's;
    pixel_weight weights each pixel's error (`object_weights`)."""
    device = generator.device
    schedule = diffusion.schedule_for(SCHEDULE, options["timesteps"])
    t = diffusion.sample_timesteps(len(x0), schedule, generator, device)
    noise = torch.randn(x0.shape, generator=generator, device=device)
    drop = diffusion.drop_condition(len(x0), options["drop_prob"], generator, device)
    output = model(diffusion.q_sample(x0, t, noise, schedule), t, cond=y_e, drop=drop, **extra)
    return diffusion.diffusion_loss(output.float(), x0, noise, t, schedule, options["prediction"],
                                    options["min_snr_gamma"], pixel_weight)


def sample_grid(model, n: int, seed: int, preset: Preset, options: dict) -> torch.Tensor:
    """The trainer's sample grid: D redraws n validation images from their embeddings."""
    size = preset.world.image_size
    images, _, _ = ShapesWorld(size=size, seed=1).images(range(n))
    device = next(model.parameters()).device
    y_e = image_embedding(frozen_clip(options["clip"], str(device)), images, model)
    return sample(model, y_e, size, preset.decoder.guidance, preset.decoder.sample_steps, seed=seed,
                  prediction=options["prediction"], timesteps=options["timesteps"])


register_stage(Stage(
    name="decoder",
    description="the image decoder D: CLIP image embedding -> image (notebook 05)",
    sizes=lambda p: p.decoder,
    build=build,
    stream=shapes_image_stream,
    loss=loss,
    sample=sample_grid,
    rebuild=lambda config: UNet(**config),
    options=OPTIONS,
))
