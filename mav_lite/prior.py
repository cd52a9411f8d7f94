"""The prior P: from the text (C_x's tokens and its embedding x_e) to a CLIP image embedding (notebook 04).

Make-A-Video, like DALL-E 2 (Ramesh et al. 2022), does not draw from the text embedding itself:
a prior first turns x_e into the image embedding that the decoders are conditioned on. One caption
fits many images (where exactly is "at the top left"? which background?), so P is a diffusion model
over embeddings: a small transformer reads

    [text tokens ..., x_e, timestep, the 16 cells of the noised image embedding z_t]

and predicts the clean embedding (DALL-E 2 predicts x_0, not the noise). Classifier-free guidance
drops the text (tokens and x_e) for 10% of training samples. The embedding is C_y's 4x4 map, as the
decoders read it (see decoder.py): each cell's output is that cell's clean features. Option
`embedding="vector"` is the paper's y_e instead: one token for z_t, and a learned query whose
output is the prediction.

P reads the words through its own copy of C_x, started from C_x's weights and trained with it (option
`tune_text`, default true; C_x itself stays frozen): C_x pools x_e from its [cls] token, so its last
layer's other token outputs, the features P reads, were never trained (README, The map route).

Beside it, `RegressionPrior` is the deterministic baseline: an MLP x_e -> the embedding, trained
with a cosine loss. It lands on the average of the images a caption fits, and gives one answer per
prompt; notebook 04 compares the two.

Both train on frozen CLIP-lite embeddings (option `clip`: a run folder, default the reference
weights): `mav-lite train prior --preset cpu --out runs/prior` (and `prior_regression`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from . import diffusion
from .clip import GRID, CLIPLite, TextEncoder, frozen_clip
from .config import Preset
from .decoder import map_embedding
from .data import ImageStream, ShapesWorld
from .train import Stage, register_stage
from .unet import timestep_embedding

# clip: a run folder or None; tune_text: P trains its own copy of C_x (see DiffusionPrior)
OPTIONS = {"clip": None, "embedding": "map", "drop_prob": 0.1, "timesteps": 1000, "tune_text": True}
CELLS = GRID ** 2  # the cells of C_y's map
SCHEDULE = "cosine"


def as_embedding(z: torch.Tensor, as_map: bool) -> torch.Tensor:
    """A prediction made an image embedding as C_y gives it: y_e unit norm, a map standardized."""
    return F.layer_norm(z, z.shape[-1:]) if as_map else F.normalize(z, dim=-1)


class DiffusionPrior(nn.Module):
    """A transformer over (tokens, x_e, t, z_t, query) -> the clean image embedding (scaled, see `scale`);

    map_channels > 0: the image embedding is C_y's 4x4 map of that many channels, flattened
    channel-first; z_t enters as 16 cell tokens instead of one token and the query, and the cells'
    outputs are the prediction.

    text_encoder (TextEncoder's arguments, option `tune_text`): P reads the prompt through its own copy
    of C_x, started from C_x's weights and trained with P. C_x was trained for x_e alone, read from the
    [cls] token, so its last layer's other token outputs were never trained; P that tunes the copy can
    make them say which colour and shape sit where, which P on frozen features did not learn."""

    def __init__(self, embed_dim: int, text_width: int, context: int, width: int, layers: int, heads: int,
                 map_channels: int = 0, text_encoder: dict | None = None):
        super().__init__()
        self.config = dict(embed_dim=embed_dim, text_width=text_width, context=context, width=width,
                           layers=layers, heads=heads, map_channels=map_channels, text_encoder=text_encoder)
        self.text = TextEncoder(**text_encoder) if text_encoder else None
        self.out_dim = map_channels * CELLS if map_channels else embed_dim  # the image embedding's size
        # unit-norm embeddings have entries ~ 1/sqrt(D): diffuse y_e * sqrt(D); a map is standardized already
        self.scale = 1.0 if map_channels else math.sqrt(embed_dim)
        token_dim = map_channels or embed_dim
        self.tokens_in = nn.Linear(text_width, width)
        self.text_in = nn.Linear(embed_dim, width)
        self.time_in = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.noised_in = nn.Linear(token_dim, width)
        self.query = None if map_channels else nn.Parameter(torch.randn(width) * 0.02)
        self.null_tokens = nn.Parameter(torch.zeros(width))  # classifier-free guidance's "no text"
        self.null_text = nn.Parameter(torch.zeros(width))
        # positions start at the size of the inputs they are added to (the projected token features and
        # cells: ~0.6 per channel): C_x's token features hardly depend on word order, so only these tell
        # "a red circle and a blue star" from "a blue circle and a red star"; started at 0.02 they were
        # drowned, and a trained P drew the same map for a caption and its colour swap (cosine 0.998)
        self.position = nn.Parameter(torch.randn(context + (2 + CELLS if map_channels else 4), width) * 0.5)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, token_dim))

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, drop: torch.Tensor | None = None,
                tokens: torch.Tensor | None = None, padding: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, out_dim) noised scaled embedding; t: (B,); cond: x_e (B, embed_dim); tokens (B, L,
        text_width) and padding (B, L) from C_x; drop: (B,) bool, True = no text. -> predicted clean
        embedding (B, out_dim)."""
        b, length = tokens.shape[:2]
        text_tokens = self.tokens_in(tokens)
        text = self.text_in(cond)[:, None]
        if drop is not None:
            text_tokens = torch.where(drop[:, None, None], self.null_tokens.to(text_tokens.dtype), text_tokens)
            text = torch.where(drop[:, None, None], self.null_text.to(text.dtype), text)
            only_first = torch.arange(length, device=padding.device) > 0  # the null text: one token
            padding = torch.where(drop[:, None], only_first, padding)
        time = self.time_in(timestep_embedding(t, self.config["width"]))[:, None]
        if self.config["map_channels"]:  # a map: one token per cell in, the same cells out
            noised = self.noised_in(rearrange(z, "b (c n) -> b n c", n=CELLS))
        else:
            noised = torch.cat([self.noised_in(z)[:, None], self.query.expand(b, 1, -1)], dim=1)
        seq = torch.cat([text_tokens, text, time, noised], dim=1)
        if self.config["map_channels"]:  # the cells are told apart by position alone: theirs must not move with the prompt
            slots = torch.cat([torch.arange(length), self.config["context"] + torch.arange(2 + CELLS)])
            seq = seq + self.position[slots.to(seq.device)]
        else:
            seq = seq + self.position[: seq.shape[1]]
        keep = torch.zeros(b, seq.shape[1] - length, dtype=torch.bool, device=padding.device)
        h = self.transformer(seq, src_key_padding_mask=torch.cat([padding, keep], dim=1))
        if self.config["map_channels"]:
            return rearrange(self.out(h[:, -CELLS:]), "b n c -> b (c n)")
        return self.out(h[:, -1])  # the query's output


class RegressionPrior(nn.Module):
    """The deterministic baseline: an MLP x_e -> the image embedding: y_e (unit norm), or with
    map_channels > 0 C_y's 4x4 map (standardized per image, as `CLIPLite.encode_image(as_map=True)`)."""

    def __init__(self, embed_dim: int, width: int, map_channels: int = 0):
        super().__init__()
        self.config = dict(embed_dim=embed_dim, width=width, map_channels=map_channels)
        self.out_dim = map_channels * CELLS if map_channels else embed_dim
        self.net = nn.Sequential(nn.Linear(embed_dim, 4 * width), nn.SiLU(), nn.Linear(4 * width, 4 * width),
                                 nn.SiLU(), nn.Linear(4 * width, self.out_dim))

    def forward(self, x_e: torch.Tensor) -> torch.Tensor:
        return as_embedding(self.net(x_e), bool(self.config["map_channels"]))


@torch.no_grad()
def sample(prior: DiffusionPrior, clip: CLIPLite, prompts, guidance: float = 2.0, steps: int = 25, seed=None,
           generator: torch.Generator | None = None, timesteps: int = 1000, progress: bool = False,
           strict: bool = True) -> torch.Tensor:
    """Prompts -> image embeddings (B, out_dim): DDIM over the embedding, guided by the text; y_e unit
    norm, or a map standardized as `CLIPLite.encode_image(as_map=True)` makes it."""
    tokens, padding, x_e = clip.text_features(prompts, strict, encoder=prior.text)
    device = next(prior.parameters()).device
    model_fn = diffusion.classifier_free_guidance(prior, x_e.to(device), guidance, tokens=tokens.to(device),
                                                  padding=padding.to(device))
    z = diffusion.sample(model_fn, (len(x_e), prior.out_dim), diffusion.schedule_for(SCHEDULE, timesteps),
                         steps=steps, prediction="x0", generator=generator,
                         seed=None if generator is not None else seed, clip=None, device=device, progress=progress)
    return as_embedding(z, bool(prior.config["map_channels"]))


# ---- the stages ------------------------------------------------------------------------------


def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
           samples: int) -> ImageStream:
    """Images at the size C_y was trained at, with their captions."""
    size = frozen_clip(options["clip"]).image_size
    return ImageStream(ShapesWorld(size=size, seed=data_seed), batch_size, position)


def embeddings(batch, options: dict, device, as_map: bool = False,
               encoder: TextEncoder | None = None) -> tuple[torch.Tensor, ...]:
    """A batch of (images, captions) -> tokens, padding, x_e and y_e (or C_y's map) from the frozen
    CLIP-lite; encoder: the prior's own text encoder (option `tune_text`), read with gradients."""
    images, captions = batch
    clip = frozen_clip(options["clip"], str(device))
    with torch.no_grad():
        y_e = clip.encode_image(images, as_map=as_map)
    with torch.set_grad_enabled(encoder is not None):
        tokens, padding, x_e = clip.text_features(captions, encoder=encoder)
    return tokens, padding, x_e, y_e


def diffusion_loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    device = generator.device
    tokens, padding, x_e, y_e = embeddings(batch, options, device, as_map=bool(model.config["map_channels"]),
                                           encoder=model.text)
    x0 = y_e.float() * model.scale
    schedule = diffusion.schedule_for(SCHEDULE, options["timesteps"])
    t = diffusion.sample_timesteps(len(x0), schedule, generator, device)
    noise = torch.randn(x0.shape, generator=generator, device=device)
    drop = diffusion.drop_condition(len(x0), options["drop_prob"], generator, device)
    output = model(diffusion.q_sample(x0, t, noise, schedule), t, cond=x_e, drop=drop, tokens=tokens,
                   padding=padding)
    return diffusion.diffusion_loss(output.float(), x0, noise, t, schedule, "x0", None)


def regression_loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """1 - cosine between the predicted and the true image embedding (y_e or C_y's map)."""
    _, _, x_e, y_e = embeddings(batch, options, generator.device, as_map=bool(model.config["map_channels"]))
    return 1 - F.cosine_similarity(model(x_e).float(), y_e.float(), dim=1).mean()


def map_channels(options: dict) -> int:
    """The channels of C_y's map a prior predicts for option `embedding="map"`, 0 for y_e."""
    return frozen_clip(options["clip"]).map_dim // CELLS if map_embedding(options) else 0


def build_diffusion(preset: Preset, options: dict) -> DiffusionPrior:
    clip, p = frozen_clip(options["clip"]), preset.prior
    c = clip.config
    text = (dict(vocab=len(clip.tokenizer), context=c["context"], width=c["width"], layers=c["layers"], heads=c["heads"],
                 embed_dim=c["embed_dim"]) if options["tune_text"] else None)
    model = DiffusionPrior(c["embed_dim"], c["width"], c["context"], p.width, p.layers, p.heads, map_channels(options), text)
    if model.text is not None:
        model.text.load_state_dict(clip.text.state_dict())
    return model


register_stage(Stage(
    name="prior",
    description="the diffusion prior P: text tokens and x_e -> image embedding y_e or C_y's map (notebook 04)",
    sizes=lambda p: p.prior,
    build=build_diffusion,
    stream=stream,
    loss=diffusion_loss,
    sample=None,
    rebuild=lambda config: DiffusionPrior(**config),
    options=OPTIONS,
))

register_stage(Stage(
    name="prior_regression",
    description="the regression baseline of P: an MLP x_e -> y_e or C_y's map (notebook 04)",
    sizes=lambda p: p.prior,
    build=lambda preset, options: RegressionPrior(frozen_clip(options["clip"]).config["embed_dim"], preset.prior.width,
                                                  map_channels(options)),
    stream=stream,
    loss=regression_loss,
    sample=None,
    rebuild=lambda config: RegressionPrior(**config),
    options={"clip": None, "embedding": "map"},
))
