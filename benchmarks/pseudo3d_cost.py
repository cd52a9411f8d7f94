"""What factorizing space and time saves: pseudo-3D vs full 3D convolution, and our video U-Net vs a peer's.

    python benchmarks/pseudo3d_cost.py [--preset cpu] [--batch 4] [--frames 8 16] [--repeats 5] [--rounds 3]
    pip install --no-deps make-a-video-pytorch==0.4.0      # for the peer's rows (lucidrains' SpaceTimeUnet)

First one layer: a Conv_P3D against a 3x3x3 Conv3d of the same width, forward and backward, at
the widths and resolutions of the preset's D, on channels-last clips (as VideoUNet lays them out on
a CPU). Then three U-Nets, timed per training step (forward + backward + AdamW) on clips of batch x frames at
the preset's base resolution, in fp32:

- pseudo-3D: a VideoUNet with the widths of the preset's D (each 3x3 conv followed by a 1D
  temporal conv, eq. 2; no CLIP conditioning, which costs the same in all three);
- full 3D: the same network with every pseudo-3D conv replaced by a 3x3x3 Conv3d of equal width;
- SpaceTimeUnet (make-a-video-pytorch 0.4.0) with the `cpu`/`gpu` presets' layout (three
  levels, attention at the lowest), its `dim` chosen so its parameter count is the closest to ours.

Goals (issue 5): pseudo-3D <= 0.65x the step time of full 3D; ours >= 1.2x the peer's throughput.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from mav_lite.claims import unets
from mav_lite.config import get_preset
from mav_lite.pseudo3d import Conv_P3D, FullConv3d
from mav_lite.system import describe_machine, time_ms, train_step_ms


def peer(params: int):
    """SpaceTimeUnet with the dim (a multiple of 8) whose parameter count is closest to `params`."""
    try:
        from make_a_video_pytorch import SpaceTimeUnet
    except ImportError:
        return None

    def build(dim):
        return SpaceTimeUnet(dim=dim, dim_mult=(1, 2, 2), self_attns=(False, False, True),
                             temporal_compression=(False, False, False), resnet_block_depths=(1, 1, 1),
                             attn_dim_head=16, attn_heads=4)

    best = min(range(8, 129, 8), key=lambda d: abs(sum(p.numel() for p in build(d).parameters()) - params))
    return build(best)


def layer_ms(layer: nn.Module, batch: int, channels: int, frames: int, size: int, repeats: int) -> float:
    x = torch.randn(batch, channels, frames, size, size).contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_()  # channels-last, as the video U-Nets lay out videos on a CPU
    return time_ms(lambda: layer(x).sum().backward(), torch.device("cpu"), repeats)


def step_ms(model: nn.Module, batch: int, frames: int, size: int, repeats: int, fps: bool) -> float:
    x = torch.randn(batch, 3, frames, size, size)
    t = torch.randint(0, 1000, (batch,))
    if not fps:  # the peer embeds float timesteps and knows no fps
        return train_step_ms(model, (x, t.float()), repeats)
    return train_step_ms(model, (x, t), repeats, fps=torch.full((batch,), 8.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3,
                        help="the U-Nets take turns this many times; each keeps its fastest round (a shared "
                             "machine's speed drifts by 10-20%% within minutes)")
    args = parser.parse_args()
    preset = get_preset(args.preset)
    size = preset.world.image_size
    print(f"{describe_machine(torch.device('cpu'))}; "
          f"preset {preset.name}, batch {args.batch} @{size}^2, fp32, ms per training step (median of {args.repeats}; "
          f"U-Nets: the fastest of {args.rounds} rounds, taken in turns)")
    d = preset.decoder
    print("\n| layer | width | resolution | " + " | ".join(f"{f} frames" for f in args.frames) + " | pseudo-3D / full |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in args.frames) + " | --- |")
    for level, mult in enumerate(d.channel_mults):
        c, side = d.channels * mult, size // 2 ** level
        p3d = Conv_P3D(c, c, 3, padding=1)
        layers = {"Conv_P3D": p3d, "Conv3d 3x3x3": FullConv3d(p3d)}
        ms = {name: [layer_ms(layer, args.batch, c, f, side, args.repeats) for f in args.frames]
              for name, layer in layers.items()}
        for name, values in ms.items():
            ratio = "" if name == "Conv_P3D" else " / ".join(f"{p / v:.2f}x" for p, v in zip(ms["Conv_P3D"], values))
            print(f"| {name} | {c} | {side}² | " + " | ".join(f"{v:.1f} ms" for v in values) + f" | {ratio} |")
    print("\n| U-Net | params | " + " | ".join(f"{f} frames" for f in args.frames) + " | vs pseudo-3D |")
    print("| --- | --- | " + " | ".join("---" for _ in args.frames) + " | --- |")
    max_frames = max(args.frames)
    ours, full = unets(preset, max_frames).values()
    models = {"pseudo-3D (ours)": (ours, True), "full 3D (3x3x3 convs)": (full, True)}
    n_ours = sum(p.numel() for p in models["pseudo-3D (ours)"][0].parameters())
    peer_model = peer(n_ours)
    if peer_model is None:
        print("(make-a-video-pytorch is not installed: `pip install --no-deps make-a-video-pytorch==0.4.0` "
              "adds the peer's row)")
    else:
        models["SpaceTimeUnet (make-a-video-pytorch)"] = (peer_model, False)
    times = {name: [[] for _ in args.frames] for name in models}
    for _ in range(args.rounds):  # in turns, so that a slow minute of the machine hits every network alike
        for name, (model, fps) in models.items():
            for i, f in enumerate(args.frames):
                times[name][i].append(step_ms(model, args.batch, f, size, args.repeats, fps))
    base = None
    for name, (model, _) in models.items():
        ms = [min(t) for t in times[name]]
        base = base or ms
        ratio = " / ".join(f"{m / b:.2f}x" for m, b in zip(ms, base))
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {params / 1e6:.2f}M | " + " | ".join(f"{m:.0f}" for m in ms) + f" | {ratio} |")


if __name__ == "__main__":
    main()
