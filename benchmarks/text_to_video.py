"""Base text-to-video (C_x -> P -> D^t), reference weights or --weights: quality judged frame by frame, and speed.

    python benchmarks/text_to_video.py [--n 32] [--steps 25] [--prior-steps 25] [--weights runs/map-chain]

Prints, for n prompts with one object and n with two (training compositions), what the attribute
oracle reads in every frame against issue 5's goals (the same figures for real one-object clips
beside them), the motion per frame at fps 4 and 24, FVD-lite beside the real-vs-real floor, and the time
to draw 8 clips at once.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


from mav_lite import MakeAVideoLite
from mav_lite.checkpoints import REFERENCE_DIR, load_pretrained
from mav_lite.evaluation import VIDEO_GOALS, text_to_video_report
from mav_lite.system import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="prompts per group")
    parser.add_argument("--steps", type=int, default=None, help="D^t's DDIM steps (default: the preset's)")
    parser.add_argument("--prior-steps", type=int, default=None, help="prior DDIM steps (default: the preset's)")
    parser.add_argument("--weights", type=Path, default=REFERENCE_DIR,
                        help="a folder laid out like data/checkpoints (default: the reference weights)")
    args = parser.parse_args()
    print(describe_machine())
    pipe = MakeAVideoLite.from_pretrained(args.weights)
    oracle, _ = load_pretrained("oracle")
    video_oracle, _ = load_pretrained("video_oracle")
    sampling = {"steps": args.steps, "prior_steps": args.prior_steps}
    start = time.perf_counter()
    report = text_to_video_report(pipe, oracle, video_oracle, n=args.n, **sampling)
    w = pipe.preset.world
    print(f"\n{4 * args.n} clips of {w.frames} frames @{w.image_size}^2 judged in {time.perf_counter() - start:.0f} s")
    print("\n| group | measure | generated | real clips | goal |\n| --- | --- | --- | --- | --- |")
    for group, goals in VIDEO_GOALS.items():
        for key, goal in goals.items():
            real = report["real"].get(key)
            print(f"| {group} | {key} | {report[group][key]:.1%} | {'' if real is None else f'{real:.1%}'} "
                  f"| >= {goal:.0%} |")
    m = report["motion"]
    print(f"| one object | motion per frame, fps 4 / fps 24 | {m['fps 4']:.3f} / {m['fps 24']:.3f} "
          f"(ratio {m['ratio']:.2f}) | {m['real fps 4']:.3f} / {m['real fps 24']:.3f} | ratio >= 1.5 |")
    print(f"| all | FVD-lite ({2 * args.n} clips) | {report['fvd']:.2f} | {report['fvd_floor']:.2f} (floor) | |")
    prompts = ["a red circle", "a blue star", "a large yellow square", "a green heart", "a white cross",
               "a small pink diamond", "an orange hexagon", "a purple triangle"]
    pipe.text_to_video(prompts[:1], seed=0, stop_after="D^t", progress=False, **sampling)  # warm-up
    start = time.perf_counter()
    pipe.text_to_video(prompts, seed=0, stop_after="D^t", progress=False, **sampling)
    print(f"\n8 prompts -> 8 clips of {w.frames} frames @{w.image_size}^2: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
