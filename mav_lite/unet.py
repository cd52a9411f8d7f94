"""The image U-Net every diffusion stage builds on (D, upF, SR_l^t, SR_h); notebook 02 teaches it.

Residual blocks with GroupNorm and a FiLM scale-shift from the timestep embedding plus an optional
conditioning vector (the CLIP image embedding for D, which can also enter as a spatial map at the
bottleneck), self-attention at the low resolutions, skip
connections between the two halves, and optional extra input channels that stages concatenate to
the noisy input (a low-resolution image for super-resolution, masked frames for upF).

Every layer works on images (B, C, H, W) and, frame by frame, on videos (B, C, T, H, W): each 2D
conv and attention is a named module, so `pseudo3d.inflate` (notebook 06) can wrap each of them in
place with a temporal layer that starts as the identity. Until then a video passes through the
U-Net as a stack of independent images, which is exactly the paper's starting point for D^t.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def per_frame(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply an image op to a video frame by frame; images pass straight through."""
    if x.ndim == 4:
        return fn(x)
    b = x.shape[0]
    y = fn(rearrange(x, "b c t h w -> (b t) c h w"))
    return rearrange(y, "(b t) c h w -> b c t h w", b=b)


def _fit(m: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
    """A (B, C, h, w) map at like's height and width (resized by `mode`), with a frame axis when like
    is a video (every frame the same)."""
    if m.shape[-2:] != like.shape[-2:]:
        m = F.interpolate(m, size=like.shape[-2:], mode=mode, align_corners=None if mode == "nearest" else False)
    return m if like.ndim == 4 else m[:, :, None]


def _broadcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, C) -> (B, C, 1, 1) for images or (B, C, 1, 1, 1) for videos."""
    return v.view(*v.shape, *([1] * (like.ndim - 2)))


class Conv2d(nn.Conv2d):
    """A 2D convolution that also takes videos, one frame at a time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(super().forward, x)


class GroupNorm(nn.GroupNorm):
    """GroupNorm per frame: a frame is normalized on its own, as the image model saw it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(super().forward, x)


def norm(channels: int) -> GroupNorm:
    return GroupNorm(min(8, channels // 4), channels)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (B,) -> (B, dim), as in the Transformer and DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, FiLM from the embedding, GroupNorm -> SiLU -> conv, plus a skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = norm(c_in), Conv2d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c_out)  # scale and shift per channel
        self.norm2, self.conv2 = norm(c_out), Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight), nn.init.zeros_(self.conv2.bias)  # each block starts as its skip
        self.skip = Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb)).chunk(2, dim=1)  # (B, C) each
        h = self.norm2(h) * (1 + _broadcast(scale, h)) + _broadcast(shift, h)  # FiLM
        return self.skip(x) + self.conv2(F.silu(h))


class SpatialAttention(nn.Module):
    """Self-attention over the pixels of each frame, on a residual branch."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, H, W)"""
        h, w = x.shape[-2:]
        tokens = rearrange(self.norm(x), "n c h w -> n (h w) c")
        q, k, v = rearrange(self.qkv(tokens), "n l (three heads d) -> three n heads l d", three=3, heads=self.heads)
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        y = self.out(rearrange(y, "n heads l d -> n l (heads d)"))
        return x + rearrange(y, "n (h w) c -> n c h w", h=h, w=w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return per_frame(self.attend, x)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(per_frame(lambda f: F.interpolate(f, scale_factor=2.0, mode="nearest"), x))


class CellMixer(nn.Module):
    """Reads the cells of a grid condition together: a small Transformer over the g*g cells (each a
    token with a learned position), added to every cell on a residual branch whose last layer starts
    at zero, so a U-Net that gains one reads its condition exactly as before. Built to let a cell tell
    its object from a neighbour's bleeding into it; a 2,000-step fine-tune of the reference D with it
    did not bind more often (README, Where D loses binding)."""

    def __init__(self, cell_dim: int, grid: int, layers: int, heads: int = 4):
        super().__init__()
        self.grid = grid
        self.position = nn.Parameter(0.02 * torch.randn(grid * grid, cell_dim))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(cell_dim, heads, 2 * cell_dim, dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(layers))
        self.out = nn.Linear(cell_dim, cell_dim)
        nn.init.zeros_(self.out.weight), nn.init.zeros_(self.out.bias)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, C * g * g), channel-first like C_y's flattened map -> the same shape."""
        cells = rearrange(cond, "b (c l) -> b l c", l=self.grid * self.grid)
        h = cells + self.position
        for layer in self.layers:
            h = layer(h)
        return rearrange(cells + self.out(h), "b l c -> b (c l)")


class Level(nn.Module):
    """One resolution of the U-Net: residual blocks, each followed by attention where asked."""

    def __init__(self, channels_in: list[int], c_out: int, emb_dim: int, attention: bool, heads: int):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, c_out, emb_dim) for c in channels_in)
        self.attns = nn.ModuleList(SpatialAttention(c_out, heads) if attention else nn.Identity() for _ in channels_in)


class UNet(nn.Module):
    """A diffusion U-Net: (noisy x, timestep t, condition) -> the prediction (eps, x0 or v).

    channels, channel_mults: width of each resolution level; attention_levels: levels (0 = full
    resolution) with self-attention; res_blocks: residual blocks per level on the way down;
    cond_dim: size of the conditioning vector (0: unconditional); cond_map: side of a spatial map the
    condition is also projected to and added at the bottleneck (0: none; D uses it, so the embedding
    can say *where* as directly as it says *what*); extra_channels: channels a stage concatenates to
    the input (`concat=` in forward); fps_cond: also condition on frames per second (D^t, `fps=` in
    forward), through an MLP whose last layer starts at zero, so it changes nothing at first;
    cond_grid: the condition is itself a (C, g, g) map flattened channel-first (C_y's 4x4 map, g=4;
    0: a plain vector), and reaches the bottleneck map cell by cell through one shared linear layer;
    cond_input: a grid condition also enters at full resolution, each cell (through another shared
    linear layer) added to the stem's output over its patch, so every pixel reads its own cell;
    cond_film: whether the whole condition also reaches every block through FiLM (False: it enters
    through the maps alone, cell by cell; README, The map route); cond_mix: Transformer layers that
    read a grid condition's cells together before the layers above place them (`CellMixer`, 0: none).
    """

    STARTS_AS_IDENTITY = ("cell_mixer.",)  # parts a fine-tuning run may add to weights that lack them

    def __init__(self, channels: int = 32, channel_mults: tuple[int, ...] = (1, 2, 2),
                 attention_levels: tuple[int, ...] = (2,), res_blocks: int = 2, cond_dim: int = 0,
                 cond_map: int = 0, extra_channels: int = 0, in_channels: int = 3, out_channels: int = 3,
                 heads: int = 4, fps_cond: bool = False, cond_grid: int = 0, cond_input: bool = False,
                 cond_film: bool = True, cond_mix: int = 0):
        super().__init__()
        self.config = dict(channels=channels, channel_mults=tuple(channel_mults),
                           attention_levels=tuple(attention_levels), res_blocks=res_blocks, cond_dim=cond_dim,
                           cond_map=cond_map, extra_channels=extra_channels, in_channels=in_channels,
                           out_channels=out_channels, heads=heads, fps_cond=fps_cond, cond_grid=cond_grid,
                           cond_input=cond_input, cond_film=cond_film, cond_mix=cond_mix)
        if any(not 0 <= a < len(channel_mults) for a in attention_levels):
            raise ValueError(f"attention_levels {attention_levels} must be in 0..{len(channel_mults) - 1}")
        if cond_map and not cond_dim:
            raise ValueError("cond_map needs a condition (cond_dim > 0)")
        if cond_grid and (not cond_map or cond_dim % cond_grid ** 2):
            raise ValueError(f"cond_grid needs cond_map > 0 and a cond_dim divisible by {cond_grid ** 2}, "
                             f"got cond_map={cond_map}, cond_dim={cond_dim}")
        if (cond_input or cond_mix) and not cond_grid:
            raise ValueError("cond_input and cond_mix need a grid condition (cond_grid > 0)")
        emb_dim = 4 * channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if cond_dim and cond_film:
            self.cond_proj = nn.Linear(cond_dim, emb_dim)
        if cond_dim:
            self.null_cond = nn.Parameter(torch.zeros(cond_dim))  # the "no condition" of classifier-free guidance
        if cond_mix:
            self.cell_mixer = CellMixer(cond_dim // cond_grid ** 2, cond_grid, cond_mix, heads)
        if fps_cond:
            self.fps_mlp = nn.Sequential(nn.Linear(channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
            nn.init.zeros_(self.fps_mlp[2].weight), nn.init.zeros_(self.fps_mlp[2].bias)
        self.stem = Conv2d(in_channels + extra_channels, channels, 3, padding=1)
        if cond_input:  # each cell of a grid condition, added to the stem's output over its patch
            self.cond_input = nn.Linear(cond_dim // cond_grid ** 2, channels)

        widths = [channels * m for m in channel_mults]
        skips, c = [channels], channels
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, w in enumerate(widths):
            self.down.append(Level([c] + [w] * (res_blocks - 1), w, emb_dim, i in attention_levels, heads))
            skips += [w] * res_blocks
            c = w
            last = i == len(widths) - 1
            self.downsample.append(nn.Identity() if last else Downsample(w))
            if not last:
                skips.append(w)
        if cond_map:  # a grid condition maps cell by cell (channels -> c), a vector as a whole (-> c x side x side)
            self.cond_map = (nn.Linear(cond_dim // cond_grid ** 2, c) if cond_grid
                             else nn.Linear(cond_dim, c * cond_map * cond_map))
        self.mid1, self.mid_attn = ResBlock(c, c, emb_dim), SpatialAttention(c, heads)
        self.mid2 = ResBlock(c, c, emb_dim)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            ins = []
            for _ in range(res_blocks + 1):
                ins.append(c + skips.pop())
                c = w
            self.up.append(Level(ins, w, emb_dim, i in attention_levels, heads))
            self.upsample.append(Upsample(w) if i else nn.Identity())
        self.out_norm, self.out_conv = norm(c), Conv2d(c, out_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight), nn.init.zeros_(self.out_conv.bias)

    def condition(self, batch: int, cond: torch.Tensor | None, drop: torch.Tensor | None) -> torch.Tensor | None:
        """The condition the layers see: the null condition where none is given or it is dropped,
        then normalized per sample (a unit-norm CLIP embedding has entries of ~1/sqrt(D); normalized
        they are ~1, so the condition moves the network as strongly as the timestep does)."""
        if not self.config["cond_dim"]:
            if cond is not None:
                raise ValueError("this U-Net is unconditional (cond_dim=0) but a condition was given")
            return None
        if cond is None:
            cond = self.null_cond.expand(batch, -1)
        elif drop is not None:
            cond = torch.where(drop[:, None], self.null_cond.to(cond.dtype), cond)
        cond = F.layer_norm(cond, cond.shape[-1:])
        return self.cell_mixer(cond) if self.config["cond_mix"] else cond

    def spatial_condition(self, cond: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The condition as a (B, C, h, w) map at the bottleneck (each frame of a video gets the same)."""
        side = self.config["cond_map"]
        if self.config["cond_grid"]:
            m = self.cell_map(cond, self.cond_map)
        else:
            m = self.cond_map(cond).view(len(cond), -1, side, side)
        return _fit(m, like, "bilinear")

    def cell_map(self, cond: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
        """A grid condition (B, C * g * g), each cell through `layer` -> (B, C', g, g)."""
        grid = self.config["cond_grid"]
        cells = rearrange(cond, "b (c h w) -> b h w c", h=grid, w=grid)
        return rearrange(layer(cells), "b h w c -> b c h w")

    def fps_embedding(self, fps: torch.Tensor) -> torch.Tensor:
        """(B,) frames per second -> (B, emb_dim); sinusoids of log2(fps), so 2 -> 4 fps is as far apart as 12 -> 24."""
        return self.fps_mlp(timestep_embedding(100 * torch.log2(fps), self.config["channels"], 1000.0))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None,
                drop: torch.Tensor | None = None, concat: torch.Tensor | None = None,
                fps: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, H, W) or (B, C, T, H, W); t: (B,) timesteps; cond: (B, cond_dim); drop: (B,) bool;
        fps: (B,) frames per second of a video (a U-Net built with fps_cond only)."""
        if x.ndim not in (4, 5):
            raise ValueError(f"expected a video (B, C, T, H, W) or images (B, C, H, W), got shape {tuple(x.shape)}")
        if concat is not None:
            x = torch.cat([x, concat], dim=1)  # extra input channels
        if x.device.type == "cpu":  # channels-last: oneDNN's convolutions are 1.1-1.5x faster on it, and every
            # frame of a video is a channels-last image without a copy (benchmarks/train_speed.py, pseudo3d_cost.py)
            x = x.contiguous(memory_format=torch.channels_last if x.ndim == 4 else torch.channels_last_3d)
        if x.shape[1] != self.stem.in_channels:
            raise ValueError(f"expected {self.stem.in_channels} input channels, got {x.shape[1]} "
                             f"(input of shape {tuple(x.shape)})")
        factor = 2 ** (len(self.down) - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"height and width must be multiples of {factor}, got {tuple(x.shape[-2:])}")
        cond = self.condition(len(t), cond, drop)
        emb = self.time_mlp(timestep_embedding(t, self.config["channels"]))  # (B, emb_dim)
        if cond is not None and self.config["cond_film"]:
            emb = emb + self.cond_proj(cond)
        if fps is not None:
            if not self.config["fps_cond"]:
                raise ValueError("this U-Net has no fps conditioning (fps_cond=False) but fps was given")
            fps = torch.as_tensor(fps, dtype=torch.float32, device=t.device)
            if fps.shape != t.shape or (fps <= 0).any():
                raise ValueError(f"fps must be positive, one per sample ({len(t)}), got {fps.tolist()}")
            emb = emb + self.fps_embedding(fps)
        h = self.stem(x)
        if self.config["cond_input"]:  # each cell over its own pixels
            h = h + _fit(self.cell_map(cond, self.cond_input), h, "nearest")
        skips = [h]
        for level, down in zip(self.down, self.downsample):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(h, emb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        if self.config["cond_map"]:
            h = h + self.spatial_condition(cond, h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for level, up in zip(self.up, self.upsample):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))  # skip connection
            h = up(h)
        return self.out_conv(F.silu(self.out_norm(h))).contiguous()
