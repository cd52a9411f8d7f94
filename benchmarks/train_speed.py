"""Training and sampling speed of each preset's image U-Net on this machine, in one table.

    python benchmarks/train_speed.py [--presets ci cpu gpu] [--batch 32] [--repeats 5]

For each preset: parameters, milliseconds per training step (forward + backward + AdamW) and per
sampling step (one forward of the batch), in fp32, bf16 autocast and channels_last (the weights
too; on a CPU the U-Net takes its input channels-last in every variant, and the trainer lays out
the weights so), plus
torch.compile (mode "reduce-overhead") on a GPU. Prints the processor, its capability and threads
first: on a CPU without bf16 instructions bf16 is many times slower, so read the table of your
own machine before choosing (the trainer picks from the processor's features, see system.py).
"""

from __future__ import annotations

import argparse

import torch

from mav_lite.config import PRESETS
from mav_lite.system import cpu_has_bf16, device_name, time_ms
from mav_lite.unet import UNet


def measure(preset_name: str, variant: str, batch: int, device: torch.device, repeats: int) -> tuple[float, float]:
    d, size = PRESETS[preset_name].decoder, PRESETS[preset_name].world.image_size
    model = UNet(d.channels, d.channel_mults, d.attention_levels, res_blocks=d.res_blocks).to(device)
    fmt = torch.channels_last if variant == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=fmt)
    t = torch.randint(0, 1000, (batch,), device=device)
    forward = torch.compile(model, mode="reduce-overhead") if variant == "compile" else model
    dtype = torch.bfloat16 if variant == "bf16" else None

    def train_step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = forward(x, t).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sample_step():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            forward(x, t)

    return time_ms(train_step, device, repeats), time_ms(sample_step, device, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: ci cpu gpu (and paper on a GPU)")
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's (at most 32 on a CPU)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    presets = args.presets or (["ci", "cpu", "gpu", "paper"] if device.type == "cuda" else ["ci", "cpu", "gpu"])
    variants = ["fp32", "bf16", "channels_last"] + (["compile"] if device.type == "cuda" else [])
    name = device_name(device)
    print(f"device: {device} ({name}); cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"bf16 instructions: {'yes' if cpu_has_bf16() else 'no'}; torch threads {torch.get_num_threads()}; "
          f"torch {torch.__version__}")
    print("| preset | params | batch | variant | train step (ms) | sampling step (ms) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for preset_name in presets:
        d = PRESETS[preset_name].decoder
        batch = args.batch or (d.batch_size if device.type == "cuda" else min(d.batch_size, 32))
        params = sum(p.numel() for p in UNet(d.channels, d.channel_mults, d.attention_levels,
                                             res_blocks=d.res_blocks).parameters())
        for variant in variants:
            train_ms, sample_ms = measure(preset_name, variant, batch, device, args.repeats)
            print(f"| {preset_name} | {params / 1e6:.2f}M | {batch} | {variant} | {train_ms:,.1f} | {sample_ms:,.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
