"""The whole chain judged on a fixed evaluation set: `mav-lite eval` and notebook 13.

    clips = EvalSet(n=64)                          # the same prompts, fps and true clips for a seed
    report = chain_report(pipe, oracle, video_oracle, clips, cache="outputs/eval")
    print(markdown_table(report))

The set holds n captioned clips from a world no training run reads (evaluation.EVAL_SEED): half
from training compositions, half from held-out ones (a colour-shape or motion-shape pair no
training image or clip shows), one or two objects, every kind of motion, and fps cycling through
FPS_LEVELS. Each prompt is its clip's caption (it names the motion: D^t never reads it, the paper's
design: motion comes from unlabeled video). Every stage's output is judged against the true clip of
the same scene rendered at that stage's frames, fps and size (the world renders any of them), and
the same measures on real clips of *other* scenes give the floor a model can reach.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tqdm.auto import tqdm

from .checkpoints import save_tensors
from .data import ShapesWorld, parse_caption
from .evaluation import EVAL_SEED
from .metrics import (
    attribute_accuracy,
    clip_frames,
    clipsim_lite,
    fid_lite,
    fvd_lite,
    motion_per_frame,
    temporal_consistency,
)

FPS_LEVELS = (4, 8, 16)  # base-clip fps the set asks for, in turn
GROUPS = {"seen": "training compositions", "held_out": "held-out compositions"}


@dataclass(frozen=True)
class EvalSet:
    """n captioned clips: the first half from training compositions, the second from held-out ones;
    clip k asks for FPS_LEVELS[k % 3]. The same seed gives the same set."""

    n: int = 64
    seed: int = EVAL_SEED

    def __post_init__(self):
        if self.n < 6 or self.n % 2:
            raise ValueError(f"an evaluation set needs an even number of clips, at least 6 (two per fps level "
                             f"and group), got n={self.n}")

    def items(self) -> list[tuple[str, int, float]]:
        """(split, index in that split, fps) of each clip."""
        half = self.n // 2
        return [(split, k % half, float(FPS_LEVELS[k % len(FPS_LEVELS)]))
                for k, split in enumerate(["seen"] * half + ["held_out"] * half)]

    def clips(self, frames: int, size: int, skip: int = 1, other_scenes: bool = False):
        """The true clips (n, 3, frames, size, size) at skip x each clip's fps, their captions and attributes.
        Frame j at skip k is the moment of base frame j / k. other_scenes: real clips of different scenes
        (another world seed), the floor of the distance measures."""
        world = ShapesWorld(size=size, seed=self.seed + int(other_scenes))
        rendered = [world.eval_clip(i, frames, fps * skip, split, size) for split, i, fps in self.items()]
        videos, captions, attrs = zip(*rendered)
        return torch.stack(videos), list(captions), list(attrs)

    def captions(self) -> list[str]:
        return self.clips(2, 8)[1]


def _settings(pipe, clips: EvalSet, stages: tuple[str, ...], batch: int, sampling: dict) -> dict:
    """What the generated clips depend on: a different value means a different cache."""
    return {"weights": f"{pipe.preset.name}-{pipe.weights_id()}", "precision": pipe.precision, "n": clips.n,
            "seed": clips.seed, "stages": list(stages), "batch": batch, "sampling": sampling,
            "preset": repr(pipe.preset), "device": pipe.device.type}


def _key(settings) -> str:
    """A short name for settings (JSON-able): the same settings, the same key."""
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def _chunks(clips: EvalSet, batch: int) -> list[list[int]]:
    """Clip numbers generated together: the same fps and group, at most `batch` each, in a fixed order."""
    by_key: dict = {}
    for k, (split, _, fps) in enumerate(clips.items()):
        by_key.setdefault((split, fps), []).append(k)
    return [ks[i:i + batch] for ks in by_key.values() for i in range(0, len(ks), batch)]


def _to_bytes(videos: torch.Tensor) -> torch.Tensor:
    return ((videos.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def generate(pipe, clips: EvalSet, cache=None, stop_after: str | None = None, batch: int = 8, seed: int = 0,
             progress: bool = True, **sampling) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Every stage's clips for the set, {stage: (n, 3, T, H, W)} in [-1, 1], stored as bytes (as a video
    file would be), and the seconds per clip of each stage. With `cache` (a folder), each chunk of
    clips is written once and read back on the next call with the same settings: an interrupted
    evaluation resumes where it stopped and gives the same numbers.

    sampling: steps, guidance, prior_steps, ... for `pipe.text_to_video` (default: the weights' preset's).
    """
    available = pipe.available_stages()
    stages = available[:available.index(pipe._last_stage(stop_after)) + 1]
    settings = _settings(pipe, clips, stages, batch, sampling)
    folder = None
    if cache is not None:
        folder = Path(cache) / f"{pipe.preset.name}-n{clips.n}-{_key(settings)}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.json").write_text(json.dumps(settings, indent=1))
    captions = clips.captions()
    items = clips.items()
    out: dict[str, list] = {s: [None] * clips.n for s in stages}
    seconds = {s: 0.0 for s in ("P", *stages)}
    chunks = _chunks(clips, batch)
    for number, ks in enumerate(tqdm(chunks, desc="evaluation clips", disable=not progress)):
        path = folder / f"chunk_{number:03d}.safetensors" if folder else None
        if path is not None and path.is_file():
            tensors = load_file(path)
            with safe_open(path, "pt") as f:
                spent = json.loads(f.metadata()["seconds"])
        else:
            made = pipe.text_to_video([captions[k] for k in ks], seed=seed + number, fps=items[ks[0]][2],
                                      stop_after=stages[-1], progress=False, **sampling)
            tensors, spent = {s: _to_bytes(v.cpu()) for s, v in made.stages.items()}, made.seconds
            if path is not None:
                # written atomically: an interruption leaves no half chunk to read back
                save_tensors(tensors, path, metadata={"seconds": json.dumps(spent)})
        for s in stages:
            for k, video in zip(ks, tensors[s]):
                out[s][k] = video.float() / 127.5 - 1
        for s, value in spent.items():
            seconds[s] += value / clips.n
    return {s: torch.stack(v) for s, v in out.items()}, seconds


def judge(generated: torch.Tensor, real: torch.Tensor, captions: list[str], oracle, video_oracle, clip,
          floor: torch.Tensor | None = None) -> dict:
    """One stage's clips against the true clips of the same scenes (same shape), on every measure:

    - clipsim / clipsim_real: mean CLIP-lite cosine of each frame to its prompt, for the clips and the truth;
    - fid: FID-lite over all frames; fvd: FVD-lite over the clips; with `floor` (real clips of other
      scenes) fid_floor / fvd_floor, the distance real clips themselves keep;
    - color, shape, color+shape (one-object prompts), binding (two-object), count: the share of
      frames the oracle reads as the prompt asks;
    - same_object / same_object_real: the share of clips whose objects stay the same in every frame;
    - motion / motion_real: mean distance the foreground's centre moves per frame (image widths).
    """
    frames = generated.shape[2]
    per_frame = [c for c in captions for _ in range(frames)]
    gen, true = clip_frames(generated), clip_frames(real)
    accuracy = attribute_accuracy(oracle, gen, per_frame)
    report = {"clipsim": clipsim_lite(clip, gen, per_frame), "clipsim_real": clipsim_lite(clip, true, per_frame),
              "fid": fid_lite(oracle, true, gen), "fvd": fvd_lite(video_oracle, real, generated)}
    if floor is not None:
        report["fid_floor"] = fid_lite(oracle, true, clip_frames(floor))
        report["fvd_floor"] = fvd_lite(video_oracle, real, floor)
    report |= {k: accuracy[k] for k in ("color", "shape", "color+shape", "binding", "count") if k in accuracy}
    report["same_object"] = temporal_consistency(oracle, generated).float().mean().item()
    report["same_object_real"] = temporal_consistency(oracle, real).float().mean().item()
    report["motion"] = motion_per_frame(generated).nanmean().item()
    report["motion_real"] = motion_per_frame(real).nanmean().item()
    return report


def chain_report(pipe, oracle, video_oracle, clips: EvalSet, cache=None, stop_after: str | None = None,
                 batch: int = 8, seed: int = 0, progress: bool = True, **sampling) -> dict:
    """The set through the chain (`generate`), every stage judged (`judge`) against the truth at its
    frames, fps and size, plus per stage: colour+shape per group (training vs held-out compositions),
    motion per frame at each fps level (generated and real), and seconds per clip.
    Returns {"n", "settings", "stages": {stage: {...}}}."""
    videos, seconds = generate(pipe, clips, cache, stop_after, batch, seed, progress, **sampling)
    groups = [split for split, _, _ in clips.items()]
    fps = torch.tensor([f for _, _, f in clips.items()])
    one = torch.tensor([len(parse_caption(c)["objects"]) == 1 for c in clips.captions()])
    report = {"n": clips.n, "seed": clips.seed, "fps_levels": list(FPS_LEVELS), "stages": {}}
    for stage, generated in tqdm(videos.items(), desc="judging stages", disable=not progress):
        frames, size = generated.shape[2], generated.shape[-1]
        skip = (frames - 1) // (videos["D^t"].shape[2] - 1)
        real, captions, _ = clips.clips(frames, size, skip)
        floor = clips.clips(frames, size, skip, other_scenes=True)[0]
        entry = judge(generated, real, captions, oracle, video_oracle, pipe.clip, floor)
        entry |= {"frames": frames, "size": size, "fps_factor": skip, "seconds_per_clip": seconds[stage]}
        for split, name in GROUPS.items():
            pick = [k for k, g in enumerate(groups) if g == split and one[k]]
            per_frame = [captions[k] for k in pick for _ in range(frames)]
            entry[f"color+shape, {name}"] = (attribute_accuracy(oracle, clip_frames(generated[pick]), per_frame)
                                             ["color+shape"] if pick else float("nan"))
        for level in FPS_LEVELS:
            pick = fps == level
            entry[f"motion at fps {level}"] = motion_per_frame(generated[pick]).nanmean().item()
            entry[f"motion_real at fps {level}"] = motion_per_frame(real[pick]).nanmean().item()
        report["stages"][stage] = entry
    report["seconds_per_clip"] = {"P": seconds["P"], **{s: seconds[s] for s in videos}}
    return report


def _share(entry: dict, key: str) -> str:
    return f"{entry[key]:.0%}" if key in entry else "-"  # a set without two-object prompts has no binding


COLUMNS = (("clip", lambda e: f"{e['frames']} x {e['size']}²"),
           ("CLIPSIM-lite (real)", lambda e: f"{e['clipsim']:.3f} ({e['clipsim_real']:.3f})"),
           ("FID-lite (floor)", lambda e: f"{e['fid']:.1f} ({e['fid_floor']:.1f})"),
           ("FVD-lite (floor)", lambda e: f"{e['fvd']:.1f} ({e['fvd_floor']:.1f})"),
           ("colour", lambda e: _share(e, "color")), ("shape", lambda e: _share(e, "shape")),
           ("count", lambda e: _share(e, "count")), ("binding", lambda e: _share(e, "binding")),
           ("same object (real)", lambda e: f"{e['same_object']:.0%} ({e['same_object_real']:.0%})"),
           ("motion / real", lambda e: f"{e['motion'] / e['motion_real']:.2f}"),
           ("s per clip", lambda e: f"{e['seconds_per_clip']:.1f}"))


def markdown_table(report: dict) -> str:
    """The report's main table, one row per stage (a markdown table that also reads as plain text)."""
    lines = ["| stage | " + " | ".join(name for name, _ in COLUMNS) + " |",
             "| --- |" + " --- |" * len(COLUMNS)]
    for stage, entry in report["stages"].items():
        lines.append(f"| {stage} | " + " | ".join(cell(entry) for _, cell in COLUMNS) + " |")
    return "\n".join(lines)


def motion_table(report: dict) -> str:
    """Motion per frame at each fps the set asks for, generated vs real, per stage (a markdown table)."""
    levels = report["fps_levels"]
    lines = ["| stage | " + " | ".join(f"fps {f}: generated / real" for f in levels) + " |",
             "| --- |" + " --- |" * len(levels)]
    for stage, e in report["stages"].items():
        lines.append(f"| {stage} | " + " | ".join(f"{e[f'motion at fps {f}']:.3f} / {e[f'motion_real at fps {f}']:.3f}"
                                                   for f in levels) + " |")
    return "\n".join(lines)


def evaluate(pipe, preset, out=None, n: int | None = None, seed: int = EVAL_SEED, claims: str = "abcdef",
             stop_after: str | None = None, batch: int = 8, progress: bool = True) -> dict:
    """`mav-lite eval`: the chain report on an EvalSet of n clips (default: the preset's eval_clips)
    with the preset's DDIM steps and base clip length (eval_frames; report["sampling"] holds both),
    then the claims (claims.measure), written to out/report.json and
    out/report.md (default out: outputs/eval/<preset>). Generated clips and measured claims are cached
    under `out`, keyed by the weights and the preset's settings: run it again after an interruption
    and it picks up where it stopped; new weights or settings start afresh."""
    from . import claims as claims_lib
    from .checkpoints import load_pretrained

    claims_lib.check(claims)
    out = Path(out or Path("outputs") / "eval" / preset.name)
    clips = EvalSet(n or preset.eval_clips, seed)
    oracle, video_oracle = load_pretrained("oracle")[0], load_pretrained("video_oracle")[0]
    sampling = preset.chain_steps() | ({"frames": preset.eval_frames} if preset.eval_frames else {})
    report = chain_report(pipe, oracle, video_oracle, clips, out / "cache", stop_after, batch, progress=progress,
                          **sampling)
    report["sampling"] = sampling
    report["steps"] = f"preset {preset.name!r}'s DDIM steps" + (f", {preset.eval_frames}-frame base clips"
                                                               if preset.eval_frames else "")
    report["claims"] = claims_lib.measure(claims, pipe, oracle, preset.name, report,
                                          out=out / "claim_runs",
                                          cache=out / f"claims-{pipe.weights_id()}-{_key(repr(pipe.preset))}.json",
                                          progress=progress)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "report.md").write_text(markdown_report(report))
    report["folder"] = str(out)
    return report


def markdown_report(report: dict) -> str:
    """The whole report as markdown: the table, motion by fps, and each claim's verdict."""
    parts = [f"{report['n']} prompts (evaluation seed {report['seed']}), {report.get('steps', '')}:", "",
             markdown_table(report), "", "Motion per frame (image widths) at each requested fps:", "",
             motion_table(report)]
    if report.get("claims"):
        parts += ["", "| claim | verdict |", "| --- | --- |"]
        parts += [f"| ({key[0]}) {c['claim']} | {c['verdict']} |" for key, c in report["claims"].items()]
    return "\n".join(parts) + "\n"
