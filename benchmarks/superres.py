"""The SR cascade against its baselines on held-out clips, with time and peak memory per stage.

    python benchmarks/superres.py [--n 16] [--steps 20]

SR_l^t (spatiotemporal) against the same network's image pretraining run on every frame (the paper:
per-frame SR did worse there) and bicubic; SR_h with shared noise against independent noise and
bicubic. Each stage is given the true clip at its input size and judged against the true render at
its output size: PSNR, SSIM, edge sharpness (1 = the truth's), flicker on static pixels, FID-lite.
Issue 7's goals: both stages beat bicubic on PSNR and sharpness; shared noise cuts flicker > 1.5x.
"""

from __future__ import annotations

import argparse
import time


from mav_lite import superres as sr_lib
from mav_lite.checkpoints import load_pretrained
from mav_lite.config import get_preset
from mav_lite.data import ShapesWorld
from mav_lite.evaluation import EVAL_SEED, superres_report
from mav_lite.system import describe_machine, peak_memory_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="clips")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the preset's)")
    args = parser.parse_args()
    print(describe_machine())
    models = {name: load_pretrained(name) for name in ("sr_low", "sr_low_image", "sr_high")}
    preset = get_preset(models["sr_high"][1]["preset"])
    low, high, w = preset.sr_low, preset.sr_high, preset.world
    steps = args.steps or high.sample_steps
    stages = {"SR_l^t": (models["sr_low"][0], low.size_in, low.size_out),
              "SR_l per frame": (models["sr_low_image"][0], low.size_in, low.size_out),
              "SR_h": (models["sr_high"][0], high.size_in, high.size_out)}
    # first, while the process's peak memory is still the cascade's own (it only grows)
    fps = w.fps * preset.interpolation.frame_skip  # what upF outputs
    clip, _ = ShapesWorld(size=low.size_in, seed=EVAL_SEED).video(0, preset.frames_after_upf, fps)
    print(f"\none clip of {preset.frames_after_upf} frames at {fps} fps through the cascade, as text_to_video runs "
          "it (time, process peak memory):")
    before = peak_memory_mb()
    start = time.perf_counter()
    mid = sr_lib.sample(models["sr_low"][0], clip[None], low.size_out, steps=steps, seed=0, fps=fps, chunk=w.frames)
    print(f"  SR_l^t {low.size_in}->{low.size_out}: {time.perf_counter() - start:.1f} s, peak {peak_memory_mb():.0f} MB "
          f"(was {before:.0f} MB)")
    for chunk in (sr_lib.SR_H_CHUNK, None):  # the smaller first: the process peak only grows
        start = time.perf_counter()
        sr_lib.sample(models["sr_high"][0], mid, high.size_out, steps=steps, seed=0, chunk=chunk)
        print(f"  SR_h {high.size_in}->{high.size_out}, chunk {chunk or 'all'}: {time.perf_counter() - start:.1f} s, "
              f"peak {peak_memory_mb():.0f} MB")

    start = time.perf_counter()
    report = superres_report(stages, load_pretrained("oracle")[0], n=args.n, frames=w.frames, fps=w.fps, steps=steps)
    print(f"\n{args.n} held-out clips of {w.frames} frames, {steps} steps, judged in {time.perf_counter() - start:.0f} s")
    print("\n| method | PSNR (dB) | SSIM | edge sharpness | flicker | FID-lite | s per clip |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, row in report.items():
        if not isinstance(row, dict):
            continue
        cells = [f"{row[k]:.2f}" if k in row else "" for k in ("psnr",)] + \
                [f"{row[k]:.3f}" if k in row else "" for k in ("ssim", "sharpness", "flicker")] + \
                [f"{row[k]:.1f}" if k in row else "" for k in ("fid", "seconds_per_clip")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    shared, independent = report["SR_h"]["flicker"], report["SR_h, independent noise"]["flicker"]
    print(f"\nSR_h flicker, independent / shared noise: {independent / max(shared, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
