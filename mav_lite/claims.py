"""The paper's claims, measured at toy scale (notebook 13, `mav-lite eval`).

Each claim function returns {"claim", "numbers", "verdict", "holds", ...}: what the paper says, the
figures that test it here, a one-line verdict, and the data its plot needs (JSON-safe):

    (a) inflation(preset)                     image pretraining + inflation learns video faster than scratch
    (b) pseudo3d_cost(preset)                 pseudo-3D layers cost less than full 3D at equal width
    (c) shared_noise(pipe, oracle)            SR_h with one noise for all frames flickers less
    (d) interpolation(pipe, oracle)           upF beats a linear blend on the hidden frames
    (e) prior(pipe, regression)               a diffusion prior vs a regression prior: CLIPSIM-lite and diversity
    (f) generalization(report)                held-out compositions, from chain_eval's report

`measure(...)` runs the ones asked for and keeps each result in a JSON file, so an interrupted run
resumes with the claims it has not measured yet.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from . import decoder as decoder_lib
from . import video_decoder as video_lib
from .checkpoints import load_pretrained
from .clip import frozen_clip
from .config import get_preset
from .evaluation import eval_clips, eval_scenes, interpolation_report, superres_report
from .metrics import clipsim_lite, fvd_lite
from .pseudo3d import VideoUNet, full_3d
from .system import train_step_ms

NAMES = {"a": "inflation", "b": "pseudo3d_cost", "c": "shared_noise", "d": "interpolation", "e": "prior",
         "f": "generalization"}


def _first_at_most(steps, values, target: float):
    """The first measured step whose value is at most `target`, or None."""
    return next((s for s, v in zip(steps, values) if v <= target), None)


def _word(holds) -> str:
    return {True: "holds", False: "does not hold here", "partly": "partly holds", None: "not measured"}[holds]


def inflation(preset=None, out="runs/claims", steps: int | None = None, checks: int = 4, n: int = 16,
              sample_steps: int = 10, progress: bool = False) -> dict:
    """(a) D^t inflated from D vs the same network from scratch: the same batches, seed and learning
    rate; after every steps / checks steps, the validation loss and FVD-lite of n real clips redrawn
    from their middle frame's embedding (sample_steps DDIM steps). Holds where the inflated model ends
    lower and scratch never reaches its final value; "partly" where that is true of one measure.
    Default steps: the preset's, a fifth in cpu."""
    from .train import train

    p = get_preset(preset)
    w, v = p.world, p.video
    steps = steps or (v.train_steps if p.name == "ci" else v.train_steps // 5)
    out = Path(out)
    decoder = None  # the reference D where it was trained in this preset; else a D of this preset's sizes
    if load_pretrained("decoder")[1]["preset"] != p.name:
        decoder = str(out / "decoder")
        train("decoder", p.name, decoder, progress=progress, lr=1e-3, overwrite=True, sample_every=10**9)
    clip, video_oracle = frozen_clip(), load_pretrained("video_oracle")[0]
    real = eval_clips(n, w.image_size, w.frames, w.fps)
    curves, runs = {}, {}
    for name, start in (("inflated from D", "inflate"), ("from scratch", "scratch")):
        curve = curves[name] = {"step": [], "fvd": []}

        def record(step, ema, curve=curve):
            y_e = decoder_lib.image_embedding(clip, video_lib.conditioning_frame(real), ema)
            clips = video_lib.sample(ema, y_e.to(next(ema.parameters()).device), w.frames, w.image_size, w.fps,
                                     v.guidance, sample_steps, seed=0)
            curve["step"].append(step)
            curve["fvd"].append(fvd_lite(video_oracle, real, clips.float().cpu()))

        runs[name] = train("video_decoder", p.name, out / start, progress=progress, on_save=record, steps=steps,
                           lr=5e-4, overwrite=True, sample_every=10**9, save_every=max(1, steps // checks),
                           val_every=max(1, steps // checks), options={"decoder": decoder, "start": start})
        curve["val_step"], curve["val_loss"] = runs[name].history["val_step"], runs[name].history["val_loss"]
    losses = {name: run.history["val_loss"][-1] for name, run in runs.items()}
    loss_reached = _first_at_most(runs["from scratch"].history["val_step"], runs["from scratch"].history["val_loss"],
                                  losses["inflated from D"])
    inflated, scratch = (curves[k]["fvd"][-1] for k in curves)
    fvd_reached = _first_at_most(curves["from scratch"]["step"], curves["from scratch"]["fvd"], inflated)
    floor = fvd_lite(video_oracle, real, eval_clips(n, w.image_size, w.frames, w.fps, seed=7))
    by_loss = losses["inflated from D"] < losses["from scratch"] and loss_reached is None
    by_fvd = inflated < scratch and fvd_reached is None
    holds = True if by_loss and by_fvd else ("partly" if by_loss or by_fvd else False)
    verdict = (f"{_word(holds)}: after {steps} steps, validation loss {losses['inflated from D']:.4f} inflated vs "
               f"{losses['from scratch']:.4f} from scratch (scratch "
               + (f"reached it at step {loss_reached}" if loss_reached else "never reached it")
               + f"); FVD-lite {inflated:.1f} vs {scratch:.1f} (scratch "
               + (f"reached {inflated:.1f} at step {fvd_reached}" if fvd_reached else "never reached it")
               + f"; real vs real {floor:.1f}, {n} clips)")
    return {"claim": "image pretraining then inflation learns video faster than training from scratch",
            "numbers": {"steps": steps, "val loss inflated": losses["inflated from D"],
                        "val loss scratch": losses["from scratch"], "scratch reaches inflated's loss at step":
                        loss_reached, "fvd inflated": inflated, "fvd scratch": scratch, "fvd real vs real": floor,
                        "scratch reaches inflated's fvd at step": fvd_reached, "clips": n},
            "curves": curves, "holds": holds, "verdict": verdict}


def unets(preset, frames: int) -> dict[str, VideoUNet]:
    """Our video U-Net at the widths of the preset's D, and the same network with full 3x3x3 convs."""
    d = preset.decoder

    def ours():
        return VideoUNet(max_frames=frames, channels=d.channels, channel_mults=d.channel_mults,
                         attention_levels=d.attention_levels, res_blocks=d.res_blocks)

    torch.manual_seed(0)
    return {"pseudo-3D": ours(), "full 3D": full_3d(ours())}


def pseudo3d_cost(preset=None, batch: int = 4, frames: int = 8, repeats: int = 3) -> dict:
    """(b) Parameters and ms per training step (fp32, this machine) of our video U-Net and of the same
    network with full 3x3x3 convolutions, on batch x frames clips at the preset's base resolution
    (benchmarks/pseudo3d_cost.py has the per-layer table and a peer's network)."""
    p = get_preset(preset)
    size = p.world.image_size
    x, t, fps = torch.randn(batch, 3, frames, size, size), torch.randint(0, 1000, (batch,)), torch.full((batch,), 8.0)
    numbers = {}
    for name, model in unets(p, frames).items():
        numbers[f"params {name}"] = sum(q.numel() for q in model.parameters())
        numbers[f"ms {name}"] = train_step_ms(model, (x, t), repeats, fps=fps)
    time_ratio = numbers["ms pseudo-3D"] / numbers["ms full 3D"]
    param_ratio = numbers["params pseudo-3D"] / numbers["params full 3D"]
    numbers |= {"time ratio": time_ratio, "params ratio": param_ratio, "clips": f"{batch} x {frames} @{size}²"}
    holds = time_ratio < 1 and param_ratio < 1
    verdict = (f"{_word(holds)}: pseudo-3D takes {time_ratio:.2f}x the step time and "
               f"{param_ratio:.2f}x the parameters of full 3D ({batch} x {frames} frames @{size}², this machine)")
    return {"claim": "pseudo-3D layers cost less than full 3D convolutions at equal width", "numbers": numbers,
            "holds": holds, "verdict": verdict}


def shared_noise(pipe, oracle, n: int = 4, frames: int = 8, steps: int | None = None) -> dict:
    """(c) SR_h on true clips with one initial noise for every frame vs independent noise per frame:
    flicker on still pixels (evaluation.superres_report)."""
    s = pipe.preset.sr_high
    report = superres_report({"SR_h": (pipe._model("SR_h"), s.size_in, s.size_out)}, oracle, n=n, frames=frames,
                             steps=steps or s.sample_steps)
    shared, independent = report["SR_h"]["flicker"], report["SR_h, independent noise"]["flicker"]
    factor = independent / max(shared, 1e-12)
    holds = factor > 1.5
    verdict = (f"{_word(holds)}: flicker {shared:.4f} with shared noise vs "
               f"{independent:.4f} independent ({factor:.1f}x less; goal > 1.5x)")
    return {"claim": "SR_h with the same noise for every frame flickers less than with independent noise",
            "numbers": {"flicker shared": shared, "flicker independent": independent, "factor": factor,
                        "psnr shared": report["SR_h"]["psnr"], "psnr independent":
                        report["SR_h, independent noise"]["psnr"], "clips": f"{n} x {frames} frames"},
            "holds": holds, "verdict": verdict}


def interpolation(pipe, oracle, n: int = 8, skips=(2, 4, 6), steps: int | None = None) -> dict:
    """(d) upF vs a linear blend and the nearest frame on held-out clips (evaluation.interpolation_report):
    moving-object PSNR of the hidden frames at each skip."""
    report = interpolation_report(pipe, oracle, n=n, skips=skips, steps=steps)
    numbers = {f"{m} skip {k}": report[f"skip {k}"][m]["moving_psnr"] for k in skips
               for m in ("upF", "blend", "nearest")}
    margins = [numbers[f"upF skip {k}"] - numbers[f"blend skip {k}"] for k in skips]
    holds = True if all(m > 0 for m in margins) else ("partly" if any(m > 0 for m in margins) else False)
    verdict = (_word(holds) + ": upF minus blend on moving-object PSNR "
               + ", ".join(f"{m:+.1f} dB at skip {k}" for m, k in zip(margins, skips)) + f" ({n} clips each)")
    return {"claim": "upF fills hidden frames better than a linear blend of their neighbours",
            "numbers": numbers | {"clips": n}, "holds": holds, "verdict": verdict}


def _spread(embeddings: torch.Tensor) -> float:
    """Mean pairwise 1 - cosine (0: all the same)."""
    k = len(embeddings)
    unit = F.normalize(embeddings, dim=-1)
    sims = unit @ unit.T
    return (1 - (sims.sum() - sims.diagonal().sum()) / (k * (k - 1))).item()


@torch.no_grad()
def prior(pipe, regression, n: int = 32, prompts: int = 4, samples: int = 8, steps: int | None = None) -> dict:
    """(e) The diffusion prior vs the regression baseline, each followed by the same decoder D:
    cosine of the image embedding (y_e or C_y's map, what D reads) to the true image's and CLIPSIM-lite
    of the decoded images (n one-object prompts from unseen scenes), and diversity: the spread of
    `samples` draws for each of `prompts` prompts, of the embeddings and of the decoded images' y_e."""
    clip, d = pipe.clip, pipe.preset.decoder
    if regression.out_dim != pipe.decoder.config["cond_dim"]:
        option = "" if pipe.decoder.config["cond_grid"] else " --option embedding=vector"
        raise ValueError(f"the regression baseline draws {regression.out_dim}-d image embeddings but the decoder "
                         f"expects {pipe.decoder.config['cond_dim']}-d: train one for it with "
                         f"`mav-lite train prior_regression{option}`")
    images, captions = eval_scenes(n, pipe.image_size)["one object"]
    truth = decoder_lib.image_embedding(clip, images, pipe.decoder)

    def embed(which, texts, seed):
        if which == "diffusion prior":
            return pipe.image_embeddings(texts, seed=seed, progress=False).float().cpu()
        return regression(clip.encode_text(texts)).float()

    def decode(y_e, seed):
        return decoder_lib.sample(pipe.decoder, y_e.to(pipe.device), pipe.image_size, d.guidance,
                                  steps or d.sample_steps, seed=seed,
                                  prediction=pipe.decoder_options["prediction"]).float().cpu()

    numbers = {"clipsim real": clipsim_lite(clip, images, captions)}
    for which in ("diffusion prior", "regression"):
        y_e = embed(which, captions, 0)
        numbers[f"cosine to truth, {which}"] = F.cosine_similarity(y_e, truth, dim=1).mean().item()
        numbers[f"clipsim, {which}"] = clipsim_lite(clip, decode(y_e, 0), captions)
        spread, image_spread = [], []
        for i in range(prompts):
            draws = embed(which, [captions[i]] * samples, i)
            spread.append(_spread(draws))
            image_spread.append(_spread(clip.encode_image(decode(draws, i))))
        numbers[f"embedding spread, {which}"] = sum(spread) / prompts
        numbers[f"image spread, {which}"] = sum(image_spread) / prompts
    more_diverse = numbers["image spread, diffusion prior"] > numbers["image spread, regression"]
    as_faithful = numbers["clipsim, diffusion prior"] - numbers["clipsim, regression"] > -0.005
    holds = True if more_diverse and as_faithful else ("partly" if more_diverse or as_faithful else False)
    verdict = (f"{_word(holds)}: CLIPSIM-lite {numbers['clipsim, diffusion prior']:.3f} "
               f"(diffusion) vs {numbers['clipsim, regression']:.3f} (regression), real renders "
               f"{numbers['clipsim real']:.3f}; image spread {numbers['image spread, diffusion prior']:.3f} vs "
               f"{numbers['image spread, regression']:.3f}")
    return {"claim": "a diffusion prior gives images as faithful as a regression prior, and more diverse ones",
            "numbers": numbers | {"prompts": n}, "holds": holds, "verdict": verdict}


def generalization(report: dict) -> dict:
    """(f) Colour and shape right (one-object prompts, per frame) for training vs held-out compositions,
    at every stage of chain_eval's report. Holds when held-out prompts keep >= 80% of the training
    prompts' accuracy at the last stage."""
    numbers = {stage: {"training": e["color+shape, training compositions"],
                       "held-out": e["color+shape, held-out compositions"]} for stage, e in report["stages"].items()}
    last = numbers[list(numbers)[-1]]
    ratio = last["held-out"] / max(last["training"], 1e-9)
    holds = ratio >= 0.8
    verdict = (f"{_word(holds)}: colour+shape {last['held-out']:.0%} on held-out "
               f"compositions vs {last['training']:.0%} on training ones at the last stage ({ratio:.2f}x)")
    if math.isnan(ratio):
        holds, verdict = None, "not measured: the set has no one-object prompt in one of the groups (a larger n)"
    return {"claim": "the model composes attributes it never saw together (held-out colour-shape and "
                     "motion-shape pairs)", "numbers": numbers, "holds": holds, "verdict": verdict}


def check(which: str) -> None:
    """A clear error for letters that name no claim."""
    unknown = [letter for letter in which if letter not in NAMES]
    if unknown:
        raise ValueError(f"unknown claim(s) {', '.join(map(repr, unknown))}; claims: "
                         + ", ".join(f"{k} ({v})" for k, v in NAMES.items()))


def measure(which, pipe, oracle, preset, report: dict, out="runs/claims", cache=None, progress: bool = False) -> dict:
    """The claims named in `which` (letters of NAMES), each measured at the preset's sizes and kept in
    `cache` (a JSON file) when given: a claim already there is read back, not measured again."""
    check(which)
    p = get_preset(preset)
    small = p.name == "ci"
    done = json.loads(Path(cache).read_text()) if cache is not None and Path(cache).is_file() else {}
    run = {"a": lambda: inflation(p.name, out, n=8 if small else 16, checks=2 if small else 4,
                                  sample_steps=5 if small else 10, progress=progress),
           "b": lambda: pseudo3d_cost(p.name, frames=p.world.frames),
           "c": lambda: shared_noise(pipe, oracle, n=2 if small else 4, frames=4 if small else 8,
                                     steps=p.sr_high.sample_steps),
           "d": lambda: interpolation(pipe, oracle, n=2 if small else 8, skips=(2,) if small else (2, 4, 6),
                                      steps=p.interpolation.sample_steps),
           "e": lambda: prior(pipe, load_pretrained("prior_regression")[0], n=8 if small else 32,
                              prompts=2 if small else 4, samples=4 if small else 8, steps=p.decoder.sample_steps),
           "f": lambda: generalization(report)}
    results = {}
    for letter in which:
        key = f"{letter} {NAMES[letter]}"
        if key not in done or letter == "f":  # f only reads the report
            done[key] = run[letter]()
            if cache is not None:
                Path(cache).parent.mkdir(parents=True, exist_ok=True)
                Path(cache).write_text(json.dumps(done, indent=1, default=str))
        results[key] = done[key]
    return results
