"""CLIP-lite checkpoints side by side: retrieval, and whether C_x reads which colour sits on which shape.

    python benchmarks/clip_lite.py [--clip data/checkpoints/clip runs/clip-lit ...] [--scenes 1024]

For each folder: the right caption's top-1 among 32 (retrieval_accuracy) and, over the two-object
scenes among the first --scenes of ShapesWorld(seed=2024), the share whose image fits its caption
better than the caption with its two colours swapped (binding_accuracy; chance 50%). About 10 s per
folder on 2 cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mav_lite.checkpoints import REFERENCE_DIR, load_model
from mav_lite.clip import binding_accuracy, retrieval_accuracy
from mav_lite.data import ShapesWorld


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, nargs="+", default=[REFERENCE_DIR / "clip"],
                        help="CLIP-lite checkpoint folders (default: the reference)")
    parser.add_argument("--scenes", type=int, default=1024, help="scenes drawn (the two-object ones judge binding)")
    args = parser.parse_args()
    images, captions, _ = ShapesWorld(size=32, seed=2024).images(range(args.scenes))
    print("| CLIP-lite | steps | right caption among 32 | colour swap told apart |\n| --- | --- | --- | --- |")
    for folder in args.clip:
        model, card = load_model(folder, "clip")
        with torch.no_grad():
            share, n = binding_accuracy(model, images, captions)
            retrieval = retrieval_accuracy(model, images, captions)
        print(f"| {folder} | {card['step']:,} | {retrieval:.1%} | {share:.1%} of {n} |", flush=True)


if __name__ == "__main__":
    main()
