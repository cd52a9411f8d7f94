"""upF against a linear blend and the nearest frame on held-out clips, and the time to upsample one base clip.

    python benchmarks/interpolation.py [--n 32] [--skips 2 4 6] [--steps 25] [--guidance 2]
                                     [--blend-start 1.0] [--weights runs/map-chain]

For each skip k, every k-th frame of a true clip is given and the frames between are hidden; the
table compares the three ways of filling them (PSNR, SSIM, PSNR on the moving objects' pixels, and
the share of frames the attribute oracle reads as the same objects as the true frame). Issue 6's
goal: upF beats the blend on moving-object PSNR at every skip.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


from mav_lite import MakeAVideoLite
from mav_lite.checkpoints import REFERENCE_DIR, load_pretrained
from mav_lite.data import ShapesWorld
from mav_lite.evaluation import EVAL_SEED, interpolation_report
from mav_lite.system import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="clips per skip")
    parser.add_argument("--skips", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--steps", type=int, help="upF's DDIM steps (default: the preset's)")
    parser.add_argument("--guidance", type=float, help="upF's guidance scale (default: the preset's)")
    parser.add_argument("--blend-start", type=float,
                        help="how far up the noise schedule upF starts from the blend (default: the preset's; "
                             "1.0: from pure noise, the paper)")
    parser.add_argument("--weights", type=Path, default=REFERENCE_DIR,
                        help="a folder laid out like data/checkpoints (default: the reference weights)")
    args = parser.parse_args()
    print(describe_machine())
    pipe = MakeAVideoLite.from_pretrained(args.weights)
    oracle, _ = load_pretrained("oracle")
    start = time.perf_counter()
    report = interpolation_report(pipe, oracle, n=args.n, skips=args.skips, steps=args.steps, guidance=args.guidance,
                                  blend_start=args.blend_start)
    print(f"\n{args.n} held-out clips per skip at {report['fps']:g} fps, upF in {report['steps']} steps at "
          f"guidance {report['guidance']:g} from the blend at {report['blend_start']:g} of the noise schedule, "
          f"judged in {time.perf_counter() - start:.0f} s")
    print("\n| skip | method | PSNR (dB) | SSIM | moving-object PSNR (dB) | same objects |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k in args.skips:
        row = report[f"skip {k}"]
        for method in ("upF", "blend", "nearest"):
            m = row[method]
            print(f"| {k} | {method} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['moving_psnr']:.2f} | "
                  f"{m['same_objects']:.1%} |")
    print("\nupF's own redraw of the given frames (pasted back in the output), PSNR: " +
          ", ".join(f"skip {k}: {report[f'skip {k}']['upF']['given_psnr']:.1f} dB" for k in args.skips))
    w, s = pipe.preset.world, pipe.preset.interpolation
    base, _ = ShapesWorld(size=w.image_size, seed=EVAL_SEED).video(0, w.frames, w.fps)
    start = time.perf_counter()
    out = pipe.upsample_frames(base, fps=w.fps, blend_start=report["blend_start"], progress=False)
    print(f"\nupsampling one base clip ({w.frames} -> {out.video.shape[1]} frames @{w.image_size}^2, skip "
          f"{s.frame_skip}, {s.sample_steps} steps from the blend at {report['blend_start']:g}): "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
