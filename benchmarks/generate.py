"""Time per stage of one text-to-video with the reference chain, in fp32 and in bf16 where the
hardware computes in it natively.

    python benchmarks/generate.py [--prompts 1] [--repeat 2]

One prompt through C_x -> P -> D^t -> upF -> SR_l^t -> SR_h with the weights' preset's step counts
(`cpu`: 8 frames @32² -> 29 frames @128²). Issue 8's goal: <= 60 s in all on 2 CPU cores. Each
precision runs `repeat` times after a warm-up; the table gives the fastest run's seconds per stage.
The pipeline's default ("auto") is bf16 where the hardware computes in it natively, else fp32.
"""

from __future__ import annotations

import argparse


from mav_lite import MakeAVideoLite
from mav_lite.system import describe_machine, native_bf16, peak_memory_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1, help="clips drawn at once")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per precision (the fastest counts)")
    args = parser.parse_args()
    pipe = MakeAVideoLite.from_pretrained()
    print(f"{describe_machine(pipe.device)}; weights: {pipe.preset.summary()}")
    precisions = ["fp32"] + (["bf16"] if native_bf16(pipe.device) else [])
    if len(precisions) == 1:
        print("bf16 skipped: this processor has no native bf16 (it would be far slower than fp32)")
    prompts = ["a large red circle"] * args.prompts
    pipe.text_to_video(prompts, seed=0, steps=1, prior_steps=1, upf_steps=1, sr_steps=1, progress=False)  # warm-up
    rows = {}
    for name in precisions:
        pipe.precision = name
        runs = [pipe.text_to_video(prompts, seed=0, progress=False) for _ in range(args.repeat)]
        best = min(runs, key=lambda out: sum(out.seconds.values()))
        rows[name] = best.seconds | {"total": sum(best.seconds.values())}
    stages = list(rows["fp32"])
    print(f"\n{len(prompts)} clip(s), final {tuple(best.videos.shape[2:])} (frames, H, W); seconds:\n")
    print("| precision | " + " | ".join(stages) + " |")
    print("| --- |" + " --- |" * len(stages))
    for name, seconds in rows.items():
        print(f"| {name} | " + " | ".join(f"{seconds[s]:.1f}" for s in stages) + " |")
    print(f"\npeak memory {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
