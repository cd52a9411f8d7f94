"""How fast Shapes World renders: images/s and clips/s at 32^2 and 128^2 on this machine.

    python benchmarks/render_speed.py [--seconds 2]

The generator must never be the bottleneck of training: the goal is >= 5,000 images/s at 32^2 on
2 CPU cores. Prints one table: the mean rate over a few seconds of batches, after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from mav_lite.data import ShapesWorld


def rate(make_batch, batch: int, seconds: float) -> float:
    """Samples per second over `seconds` of back-to-back batches, after one warm-up batch."""
    make_batch(0)  # warm-up: shape metrics are measured once per process
    start, n = time.perf_counter(), 1
    while time.perf_counter() - start < seconds:
        make_batch(n * batch)
        n += 1
    return (n - 1) * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent per row")
    args = parser.parse_args()
    world = ShapesWorld(size=32, seed=0)
    print(f"processor: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}")
    print(f"| {'what':<22} | {'size':>5} | {'per second':>10} |")
    print(f"|{'-' * 24}|{'-' * 7}|{'-' * 12}|")
    for size, batch in ((32, 512), (128, 64)):
        r = rate(lambda i: world.images(range(i, i + batch), size=size), batch, args.seconds)
        print(f"| {'images + captions':<22} | {size:>4}² | {r:>10,.0f} |")
    for size, batch in ((32, 64), (128, 8)):
        r = rate(lambda i: world.videos(range(i, i + batch), frames=8, fps=8, size=size), batch, args.seconds)
        print(f"| {'clips (8 frames)':<22} | {size:>4}² | {r:>10,.0f} |")


if __name__ == "__main__":
    main()
