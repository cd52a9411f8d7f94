"""Factorized space-time layers and the inflation of D into D^t (the paper's eq. 2-3; notebook 06).

A full 3D convolution mixes space and time in one kernel (k x k x k weights per channel pair) and
must be learned from video. Make-A-Video factorizes it instead:

    Conv_P3D(h) = Conv_1D(Conv_2D(h) o T) o T       (eq. 2: a 2D conv per frame, then a 1D conv over frames)
    Attn_P3D(h) = Attn_1D(Attn_2D(h) o T) o T       (eq. 3: attention within each frame, then across frames)

where T swaps the spatial and temporal axes. The 2D parts are the image model's trained layers;
the 1D parts are new and start as the identity (a Dirac kernel for the conv, a zero output
projection on a residual branch for the attention). So right after `inflate(D)` the video network
D^t computes exactly what D computes on each frame: the video model starts from everything the
image model knows, and training on unlabeled video only has to learn motion.

Images (B, C, H, W) take the spatial path only; videos are (B, C, T, H, W).

    video_unet = inflate(decoder)                               # D -> D^t, same outputs at first
    out = video_unet(video, t, cond=y_e, fps=torch.tensor([8.0]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .unet import Conv2d, SpatialAttention, UNet, per_frame, timestep_embedding


class Conv_P3D(Conv2d):
    """Conv_2D per frame, then Conv_1D over frames (kernel 3, Dirac: the identity at first), eq. 2.

    The 2D weights keep the image model's names (`weight`, `bias`); the new ones are `temporal.*`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, temporal_kernel: int = 3, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        if temporal_kernel % 2 == 0:
            raise ValueError(f"the temporal kernel must be odd (centred on each frame), got {temporal_kernel}")
        self.temporal = nn.Conv1d(out_channels, out_channels, temporal_kernel, padding=temporal_kernel // 2)
        nn.init.dirac_(self.temporal.weight), nn.init.zeros_(self.temporal.bias)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "Conv_P3D":
        """A Conv_P3D whose 2D part is `conv` (its weights copied)."""
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                  bias=conv.bias is not None).to(conv.weight.device, conv.weight.dtype)
        new.load_state_dict(conv.state_dict(), strict=False)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = super().forward(x)  # Conv_2D on every frame
        if h.ndim == 4:
            return h  # an image: space only
        # Conv_1D along time, per pixel: the same weights as a (k, 1, 1) 3D kernel, which spares the
        # two "b c t h w <-> (b h w) c t" copies (1.3-1.8x faster on a CPU, benchmarks/pseudo3d_cost.py)
        weight = self.temporal.weight[..., None, None]  # (C_out, C_in, k) -> (C_out, C_in, k, 1, 1)
        return F.conv3d(h, weight, self.temporal.bias, padding=(self.temporal.padding[0], 0, 0))


def frame_positions(frames: int, channels: int) -> torch.Tensor:
    """Sinusoidal positions of frames 0..frames-1 -> (frames, channels): temporal attention alone
    cannot tell earlier from later frames."""
    return timestep_embedding(torch.arange(frames), channels, max_period=100.0)


class TemporalAttention(nn.Module):
    """Attn_1D: self-attention across the frames of each pixel, on a residual branch whose output
    projection starts at zero (the identity at first)."""

    def __init__(self, channels: int, heads: int, max_frames: int):
        super().__init__()
        self.heads, self.max_frames = heads, max_frames
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight), nn.init.zeros_(self.out.bias)
        self.register_buffer("positions", frame_positions(max_frames, channels), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, T, H, W)"""
        b, _, frames, height, width = x.shape
        tokens = rearrange(x, "b c t h w -> (b h w) t c")
        h = self.norm(tokens) + self.positions[:frames].to(x.dtype)
        q, k, v = rearrange(self.qkv(h), "n t (three heads d) -> three n heads t d", three=3, heads=self.heads)
        y = self.out(rearrange(F.scaled_dot_product_attention(q, k, v), "n heads t d -> n t (heads d)"))
        return x + rearrange(y, "(b h w) t c -> b c t h w", b=b, h=height, w=width)


class Attn_P3D(SpatialAttention):
    """Attn_2D within each frame, then Attn_1D across frames (the identity at first), eq. 3.

    The spatial weights keep the image model's names; the new ones are `temporal.*`.
    """

    def __init__(self, channels: int, heads: int = 4, max_frames: int = 32):
        super().__init__(channels, heads)
        self.temporal = TemporalAttention(channels, heads, max_frames)

    @classmethod
    def from_attention(cls, attn: SpatialAttention, max_frames: int) -> "Attn_P3D":
        """An Attn_P3D whose spatial part is `attn` (its weights copied)."""
        new = cls(attn.out.in_features, attn.heads, max_frames).to(attn.out.weight.device, attn.out.weight.dtype)
        new.load_state_dict(attn.state_dict(), strict=False)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = super().forward(x)  # Attn_2D on every frame
        return h if h.ndim == 4 else self.temporal(h)


def add_temporal_layers(net: nn.Module, max_frames: int) -> nn.Module:
    """Wrap every 3x3 conv in a Conv_P3D and every spatial attention in an Attn_P3D, in place.

    The 1x1 convs (channel changes on residual skips) stay 2D: they mix channels, never pixels.
    """
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if type(child) is Conv2d and child.kernel_size == (3, 3):
                setattr(module, name, Conv_P3D.from_conv(child))
            elif type(child) is SpatialAttention:
                setattr(module, name, Attn_P3D.from_attention(child, max_frames))
    return net


class VideoUNet(UNet):
    """D^t's network: the U-Net with pseudo-3D layers and fps conditioning (UNet's arguments, plus
    max_frames: the longest clip temporal attention has positions for)."""

    def __init__(self, max_frames: int = 32, **unet_config):
        super().__init__(**{**unet_config, "fps_cond": True})
        self.config["max_frames"] = int(max_frames)
        add_temporal_layers(self, max_frames)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None,
                drop: torch.Tensor | None = None, concat: torch.Tensor | None = None,
                fps: torch.Tensor | None = None) -> torch.Tensor:
        """x: videos (B, C, T, H, W) with fps (B,), or images (B, C, H, W) (space only, no fps)."""
        if x.ndim == 4 and fps is not None:
            raise ValueError("images have no fps: pass fps with videos (B, C, T, H, W) only")
        if x.ndim == 5:
            frames = x.shape[2]
            if not 1 <= frames <= self.config["max_frames"]:
                raise ValueError(f"a video needs 1 to {self.config['max_frames']} frames, got {frames} "
                                 f"(input of shape {tuple(x.shape)})")
            if fps is None:
                raise ValueError("a video needs its fps (frames per second), one per clip: fps=torch.tensor([8.0, ...])")
        return super().forward(x, t, cond=cond, drop=drop, concat=concat, fps=fps)


def temporal_parameter_names(net: nn.Module) -> list[str]:
    """The parameters inflation added (temporal layers, fps embedding): what `train="temporal"` trains."""
    return [n for n, _ in net.named_parameters() if ".temporal." in n or n.startswith("fps_mlp.")]


def inflate(image_unet: UNet, max_frames: int = 32) -> VideoUNet:
    """D -> D^t: a VideoUNet with every weight of `image_unet` copied and the new layers at identity.

    On a video, the result equals `image_unet` applied frame by frame, for any fps.
    """
    if isinstance(image_unet, VideoUNet):
        raise ValueError("this network is already a video U-Net (it has temporal layers)")
    config = {k: v for k, v in image_unet.config.items() if k != "fps_cond"}
    video_unet = VideoUNet(max_frames=max_frames, **config)
    source = next(image_unet.parameters())
    video_unet.to(source.device, source.dtype).train(image_unet.training)
    missing, unexpected = video_unet.load_state_dict(image_unet.state_dict(), strict=False)
    new = set(temporal_parameter_names(video_unet))
    if unexpected or set(missing) - new:
        raise ValueError(f"inflation could not place every image weight: unexpected {unexpected}, "
                         f"missing {sorted(set(missing) - new)}")
    return video_unet


class FullConv3d(nn.Module):
    """The unfactorized alternative to Conv_P3D, for cost comparisons: a 3x3x3 convolution of the
    same width and spatial stride; images pass through its middle slice."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = nn.Conv3d(conv.in_channels, conv.out_channels, 3, stride=(1, *conv.stride), padding=1)
        self.in_channels = conv.in_channels  # the U-Net checks its input against the stem's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            return per_frame(lambda f: F.conv2d(f, self.conv.weight[:, :, 1], self.conv.bias, self.conv.stride[1:], 1),
                             x)
        return self.conv(x)


def full_3d(model: VideoUNet) -> VideoUNet:
    """The same network with every pseudo-3D conv replaced by a full 3x3x3 one (what eq. 2 saves)."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv_P3D):
                setattr(module, name, FullConv3d(child))
    return model
