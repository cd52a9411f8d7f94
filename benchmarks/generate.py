"""Time per stage of one text-to-video with the reference chain, in fp32 and in bf16 where the
hardware computes in it natively.

    python benchmarks/generate.py [--prompts 1] [--repeat 2] [--compile]

One prompt through C_x -> P -> D^t -> upF -> SR_l^t -> SR_h with the weights' preset's step counts
(`cpu`: 8 frames @32² -> 29 frames @128²). Issue 8's goal: <= 60 s in all on 2 CPU cores. Each
precision runs `repeat` times after a warm-up; the table gives the fastest run's seconds per stage.
The pipeline's default ("auto") is bf16 where the hardware computes in it natively, else fp32.
--compile (CUDA only) adds a row for MakeAVideoLite(compile=True) in the last precision, and the
seconds its first call spent compiling. On a GPU the goal is <= 2 s for the `cpu` chain.
"""

from __future__ import annotations

import argparse
import time

from mav_lite import MakeAVideoLite
from mav_lite.system import describe_machine, native_bf16, peak_memory_mb


def warm_up(pipe: MakeAVideoLite, prompts: list[str]) -> float:
    """One short call of every stage (it compiles a compiled pipeline); its seconds."""
    start = time.perf_counter()
    pipe.text_to_video(prompts, seed=0, steps=1, prior_steps=1, upf_steps=1, sr_steps=1, progress=False)
    return time.perf_counter() - start


def fastest(pipe: MakeAVideoLite, prompts: list[str], repeat: int):
    """The fastest of `repeat` text-to-videos: its seconds per stage with the total, and its output."""
    runs = [pipe.text_to_video(prompts, seed=0, progress=False) for _ in range(repeat)]
    best = min(runs, key=lambda out: sum(out.seconds.values()))
    return best.seconds | {"total": sum(best.seconds.values())}, best


def print_row(name: str, seconds: dict[str, float]) -> None:
    print(f"| {name} | " + " | ".join(f"{value:.1f}" for value in seconds.values()) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1, help="clips drawn at once")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per precision (the fastest counts)")
    parser.add_argument("--compile", action="store_true", help="also time the chain compiled for CUDA graphs")
    args = parser.parse_args()
    pipe = MakeAVideoLite.from_pretrained()
    print(f"{describe_machine(pipe.device)}; weights: {pipe.preset.summary()}")
    precisions = ["fp32"] + (["bf16"] if native_bf16(pipe.device) else [])
    if len(precisions) == 1:
        print("bf16 skipped: this processor has no native bf16 (it would be far slower than fp32)")
    prompts = ["a large red circle"] * args.prompts
    warm_up(pipe, prompts)
    for name in precisions:
        pipe.precision = name
        seconds, best = fastest(pipe, prompts, args.repeat)
        if name == "fp32":
            print(f"\n{len(prompts)} clip(s), final {tuple(best.videos.shape[2:])} (frames, H, W); seconds:\n")
            print("| precision | " + " | ".join(seconds) + " |\n| --- |" + " --- |" * len(seconds))
        print_row(name, seconds)
    if args.compile:
        pipe = MakeAVideoLite.from_pretrained(precision=precisions[-1], compile=True)
        compiling = warm_up(pipe, prompts)
        print_row(f"{precisions[-1]}, compiled (compiling: {compiling:.0f} s)", fastest(pipe, prompts, args.repeat)[0])
    print(f"\npeak memory {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    main()
