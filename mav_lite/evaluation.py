"""How well each stage works, measured against ground truth (notebooks 05, 07, 08, benchmarks, notebook 13).

    report = text_to_image_report(pipe, oracle, n=64)
    shift = colour_swap_shift(pipe, n=128)
    seeds = binding_over_seeds(pipe, oracle, n=128, seeds=4, true_embedding=True)
    report = text_to_video_report(pipe, oracle, video_oracle, n=32)
    report = interpolation_report(pipe, oracle, n=32)

Prompts are captions of Shapes World scenes the models never trained on (another seed): `n` with
one object and `n` with two from the training compositions, and `n` with one object in a held-out
composition (a colour-shape pair no training image shows). Each prompt's own scene, rendered,
is the real reference for CLIPSIM-lite and FID-lite.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from einops import rearrange

from . import decoder as decoder_lib
from . import interpolation as upf_lib
from . import superres as sr_lib
from .clip import swapped_colors
from .data import ShapesWorld, to_tensor
from .data.render import render
from .metrics import (attribute_accuracy, background_mask, clip_frames, clipsim_lite, edge_sharpness, fid_lite,
                      flicker, fvd_lite, motion_per_frame, plausible_motion, prompt_hits, psnr, ssim,
                      temporal_consistency)

GROUPS = ("one object", "two objects", "held-out")
# issue 4's quality goals: the share of images the oracle must read right, per group and request
GOALS = {"one object": {"color": 0.95, "shape": 0.90, "position": 0.90, "size": 0.85},
         "two objects": {"binding": 0.80}, "held-out": {"color+shape": 0.70}}
EVAL_SEED = 2024  # scenes no training run reads (training uses data seed 0)


def _first_with(n: int, objects_of, count: int) -> list[int]:
    """The first n indices i (from 0) whose objects_of(i) holds `count` objects."""
    picked, index = [], 0
    while len(picked) < n:
        if len(objects_of(index)) == count:
            picked.append(index)
        index += 1
    return picked


def eval_scenes(n: int, size: int, seed: int = EVAL_SEED) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """{group: (real images (n, 3, size, size), their n captions)} for the three prompt groups."""
    world = ShapesWorld(size=size, seed=seed)
    out = {}
    for group, split, count in (("one object", "seen", 1), ("two objects", "seen", 2), ("held-out", "held_out", 1)):
        picked = _first_with(n, lambda i: world.scene(i, split)["objects"], count)
        images, captions, _ = world.images(picked, split=split)
        out[group] = (images, captions)
    return out


def draw(pipe, images: torch.Tensor, captions: list[str], seed: int = 0, true_embedding: bool = False,
         progress: bool = False, **sampling) -> torch.Tensor:
    """One image per prompt: `pipe.text_to_image(captions)` with the sampling knobs (steps, guidance,
    prior_steps, prior_guidance, candidates), or with true_embedding D's redraw of each prompt's own
    render (`pipe.redraw_images(images)`, no prior: only the decoder's knobs apply)."""
    if true_embedding:
        return pipe.redraw_images(images, seed=seed, progress=progress,
                                  **{k: sampling.get(k) for k in ("steps", "guidance")})
    return pipe.text_to_image(captions, seed=seed, progress=progress, **sampling)


def text_to_image_report(pipe, oracle, n: int = 64, seed: int = 0, batch: int = 64, progress: bool = False,
                         true_embedding: bool = False, **sampling) -> dict:
    """Generate one image per prompt of each group and measure it: attribute accuracy (per group),
    CLIPSIM-lite of generated and of real images, FID-lite against the real images with the
    real-vs-real floor (other scenes, same count), and the seconds per image.

    sampling: steps, guidance, prior_steps, prior_guidance for `pipe.text_to_image`. true_embedding:
    D draws from the image embedding of each prompt's own render instead of the prior's sample
    (`pipe.redraw_images`; the prior's knobs are then unused): what D alone gets right.
    """
    scenes = eval_scenes(n, pipe.image_size)
    report, generated, real = {"n": n}, [], []
    start = time.perf_counter()
    for group, (images, captions) in scenes.items():
        fake = torch.cat([draw(pipe, images[i:i + batch], captions[i:i + batch], seed + i, true_embedding,
                               progress, **sampling) for i in range(0, n, batch)]).cpu()
        report[group] = attribute_accuracy(oracle, fake, captions)
        report[group]["clipsim"] = clipsim_lite(pipe.clip, fake, captions)
        report[group]["clipsim_real"] = clipsim_lite(pipe.clip, images, captions)
        generated.append(fake), real.append(images)
    report["seconds_per_image"] = (time.perf_counter() - start) / (len(GROUPS) * n)
    generated, real = torch.cat(generated), torch.cat(real)
    floor_images = torch.cat([im for im, _ in eval_scenes(n, pipe.image_size, EVAL_SEED + 1).values()])
    report["fid"] = fid_lite(oracle, real, generated)
    report["fid_floor"] = fid_lite(oracle, real, floor_images)
    return report


def binding_over_seeds(pipe, oracle, n: int = 128, seeds: int = 4, true_embedding: bool = False,
                       **sampling) -> dict:
    """Draw the n two-object prompts once per seed (0, 1, ...) and say how often each is bound right
    (each colour on its own shape): per seed, by at least one seed, and by every seed. What the luck
    of the noise decides (README, Where D loses binding). sampling and true_embedding as in
    `text_to_image_report`."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    images, captions = eval_scenes(n, pipe.image_size)["two objects"]
    hits = []
    for seed in range(seeds):
        fake = draw(pipe, images, captions, seed, true_embedding, **sampling)
        hits.append([prompt_hits(r, c)["binding"] for r, c in zip(oracle.read(fake.cpu()), captions)])
    hits = torch.tensor(hits)  # (seeds, n)
    return {"n": n, "per_seed": hits.float().mean(dim=1).tolist(), "any": hits.any(dim=0).float().mean().item(),
            "all": hits.all(dim=0).float().mean().item()}


@torch.no_grad()
def colour_swap_shift(pipe, n: int = 128, seed: int = EVAL_SEED, steps: int | None = None,
                      guidance: float | None = None) -> dict:
    """How far swapping the two colours of a two-object scene moves its image embedding (y_e or C_y's
    map, whichever D reads): 1 - cosine, the mean over n scenes that name two different colours.

    "prior": P's sample for the caption against its sample for the colour-swapped caption, with the
    same noise (steps / guidance: P's); "renders": C_y's embedding of the render against that of the
    same render with the two objects' colours swapped. A P that gives each object its own colour moves
    about as far as the renders do; a P that reads the caption as a bag of words hardly moves.
    """
    world = ShapesWorld(size=pipe.image_size, seed=seed)
    scenes, index = [], 0
    while len(scenes) < n:
        scene = world.scene(index)
        if len(scene["objects"]) == 2 and swapped_colors(scene["caption"]):
            scenes.append(scene)
        index += 1
    backgrounds = [s["background"] for s in scenes]
    swapped = [[dict(o, color=other["color"], rgb=other["rgb"]) for o, other in zip(s["objects"], s["objects"][::-1])]
               for s in scenes]
    real, real_swapped = (decoder_lib.image_embedding(pipe.clip, to_tensor(render(objects, backgrounds, pipe.image_size)),
                                                      pipe.decoder)
                          for objects in ([s["objects"] for s in scenes], swapped))
    captions = [s["caption"] for s in scenes]
    drawn, drawn_swapped = (pipe.image_embeddings(c, seed=0, steps=steps, guidance=guidance, progress=False)
                            for c in (captions, [swapped_colors(c) for c in captions]))

    def shift(a, b):
        return float((1 - F.cosine_similarity(a.float(), b.float(), dim=1)).mean())

    return {"prior": shift(drawn, drawn_swapped), "renders": shift(real, real_swapped), "n": n}


# issue 5's quality goals for base clips (D^t), per group
VIDEO_GOALS = {"one object": {"color": 0.95, "shape": 0.90, "same_object": 0.90, "plausible": 0.90},
               "two objects": {"binding_every_frame": 0.80}}


def eval_clips(n: int, size: int, frames: int, fps: float, seed: int = EVAL_SEED,
               objects: int | None = None) -> torch.Tensor:
    """n real unlabeled clips (n, 3, frames, size, size) from a world no training run reads: FVD-lite's
    reference. objects: only clips with that many objects (the first n of the world's that do)."""
    world = ShapesWorld(size=size, seed=seed)
    if objects is None:
        return world.videos(range(n), frames, fps)[0]
    # a clip's objects do not depend on its length or size: read them off a 1-frame 4-pixel render
    picked = _first_with(n, lambda i: world.video(i, frames=1, size=4)[1]["objects"], objects)
    return world.videos(picked, frames, fps)[0]


def text_to_video_report(pipe, oracle, video_oracle, n: int = 32, seed: int = 0, batch: int = 16,
                         fps_pair: tuple[float, float] = (4, 24), progress: bool = False, **sampling) -> dict:
    """Base clips (D^t) for n prompts with one object and n with two, judged frame by frame:

    - one object: colour and shape per frame (share of frames), the same object in every frame and
      plausible motion (share of clips, metrics.plausible_motion), with the same figures for n real
      one-object clips (what the oracle itself manages on real motion);
    - two objects: binding in every frame (share of clips);
    - motion per frame at the two fps of `fps_pair` for the one-object prompts, their ratio, and the
      same real clips' motion at those fps;
    - FVD-lite of all clips at the preset's fps against as many real clips, beside the real-vs-real floor.

    sampling: steps, guidance, prior_steps, prior_guidance for `pipe.text_to_video`.
    """
    w = pipe.preset.world
    scenes = eval_scenes(n, pipe.image_size)

    def generate(captions, fps):
        return torch.cat([pipe.text_to_video(captions[i:i + batch], seed=seed + i, fps=fps, progress=progress,
                                             **(sampling | {"stop_after": "D^t"})).videos  # base clips
                          for i in range(0, n, batch)]).cpu()

    start = time.perf_counter()
    report, clips = {"n": n, "fps": w.fps, "frames": w.frames}, {}
    for group in ("one object", "two objects"):
        clips[group] = generate(scenes[group][1], w.fps)
        per_frame = [c for c in scenes[group][1] for _ in range(w.frames)]
        accuracy = attribute_accuracy(oracle, clip_frames(clips[group]), per_frame)
        report[group] = {k: accuracy[k] for k in ("color", "shape") if k in accuracy}
        report[group]["same_object"] = temporal_consistency(oracle, clips[group]).float().mean().item()
        report[group]["plausible"] = plausible_motion(oracle, clips[group]).float().mean().item()
    report["seconds_per_clip"] = (time.perf_counter() - start) / (2 * n)
    every_frame = [attribute_accuracy(oracle, clip.transpose(0, 1), [caption] * w.frames)["binding"] == 1
                   for clip, caption in zip(clips["two objects"], scenes["two objects"][1])]
    report["two objects"]["binding_every_frame"] = sum(every_frame) / n
    single = {fps: eval_clips(n, pipe.image_size, w.frames, fps, objects=1) for fps in (w.fps, *fps_pair)}
    report["real"] = {"same_object": temporal_consistency(oracle, single[w.fps]).float().mean().item(),
                      "plausible": plausible_motion(oracle, single[w.fps]).float().mean().item()}
    slow, fast = fps_pair
    motion = {fps: motion_per_frame(generate(scenes["one object"][1], fps)).nanmean().item() for fps in fps_pair}
    report["motion"] = {f"fps {slow:g}": motion[slow], f"fps {fast:g}": motion[fast],
                        "ratio": motion[slow] / motion[fast],
                        **{f"real fps {f:g}": motion_per_frame(single[f]).nanmean().item() for f in fps_pair}}
    real = eval_clips(2 * n, pipe.image_size, w.frames, w.fps)
    generated = torch.cat([clips["one object"], clips["two objects"]])
    report["fvd"] = fvd_lite(video_oracle, real, generated)
    report["fvd_floor"] = fvd_lite(video_oracle, real, eval_clips(2 * n, pipe.image_size, w.frames, w.fps,
                                                                  EVAL_SEED + 1))
    return report


def interpolation_baselines(given: torch.Tensor, skip: int) -> dict[str, torch.Tensor]:
    """The frames between every skip-th frame by the two simple guesses, (B, 3, (T - 1) * skip + 1, H, W)
    from (B, 3, T, H, W): "blend", the linear mix of the two neighbours (a moving object becomes two
    ghosts; upf_lib.linear_blend), and "nearest", the nearer neighbour repeated (the object jumps)."""
    frames = (given.shape[2] - 1) * skip + 1
    i = torch.arange(frames)
    before, after = i // skip, (i // skip + 1).clamp(max=given.shape[2] - 1)  # the given frames around each
    nearer = torch.where(i % skip <= skip / 2, before, after)
    return {"blend": upf_lib.linear_blend(given, skip), "nearest": given[:, :, nearer]}


def _same_objects(oracle, images: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the oracle reads the same objects (count and colour-shape pairs) in both."""
    def objects(readings):
        return [(r["count"], tuple(sorted((o["color"], o["shape"]) for o in r["objects"]))) for r in readings]
    return torch.tensor([a == b for a, b in zip(objects(oracle.read(images)), objects(oracle.read(truth)))])


def interpolation_report(pipe, oracle, n: int = 32, skips=(2, 4, 6), fps: float = 24, seed: int = 0,
                         batch: int = 16, steps: int | None = None, guidance: float | None = None,
                         blend_start: float | None = None, progress: bool = False) -> dict:
    """upF against a linear blend and the nearest frame on held-out clips (issue 6's baselines).

    For each skip k: n true clips of 2k + 1 frames at `fps` (a world no training run reads); every
    k-th frame is given, the others hidden and filled by each method. On the hidden frames: PSNR,
    SSIM, PSNR on the moving objects' pixels only (foreground in the true frame or either given
    neighbour) and the share the oracle reads as the same objects as the true frame. upF is
    conditioned on the output's fps; its "given_psnr" says how close its own redraw of the given
    frames comes (they are pasted back in the output). steps, guidance, blend_start: upF's sampling
    (default: the preset's; the report says which it used).
    """
    upf, s, opts = pipe._model("upF"), pipe.preset.interpolation, pipe.interpolation_options
    steps, guidance = steps or s.sample_steps, s.guidance if guidance is None else guidance
    blend_start = s.blend_start if blend_start is None else blend_start
    report = {"n": n, "fps": fps, "steps": steps, "guidance": guidance, "blend_start": blend_start}
    for k in skips:
        truth = ShapesWorld(size=pipe.image_size, seed=EVAL_SEED).videos(range(n), 2 * k + 1, fps)[0]
        given = truth[:, :, ::k]
        raw = []
        for i in range(0, n, batch):
            raw.append(upf_lib.upsample_frames(upf, pipe.clip, given[i:i + batch].to(pipe.device), k, fps / k, s.window,
                                               guidance, steps, seed=seed + i,
                                               prediction=opts["prediction"],
                                               timesteps=opts["timesteps"], progress=progress,
                                               keep_given=False, clean_given=opts["clean_given"],
                                               blend_start=blend_start).cpu())
        raw = torch.cat(raw)
        methods = {"upF": raw} | interpolation_baselines(given, k)
        hidden = [f for f in range(2 * k + 1) if f % k]
        true_frames = clip_frames(truth[:, :, hidden])
        before = clip_frames(truth[:, :, [f // k * k for f in hidden]])  # each hidden frame's given neighbours
        after = clip_frames(truth[:, :, [f // k * k + k for f in hidden]])
        moving = ~(background_mask(true_frames) & background_mask(before) & background_mask(after))
        report[f"skip {k}"] = {}
        for name, video in methods.items():
            frames = clip_frames(video[:, :, hidden])
            report[f"skip {k}"][name] = {
                "psnr": psnr(frames, true_frames).mean().item(), "ssim": ssim(frames, true_frames).mean().item(),
                "moving_psnr": psnr(frames, true_frames, moving).nanmean().item(),
                "same_objects": _same_objects(oracle, frames, true_frames).float().mean().item()}
        report[f"skip {k}"]["upF"]["given_psnr"] = psnr(clip_frames(raw[:, :, ::k]), clip_frames(given)).mean().item()
    return report


def static_mask(videos: torch.Tensor, margin: int = 3, tolerance: float = 1e-3) -> torch.Tensor:
    """(B, 3, T, H, W) true clips -> (B, T - 1, H, W): pixels whose neighbourhood (`margin` pixels
    around) the scene leaves unchanged from frame t to t + 1, so that any change of detail there is
    the model's (a stage's input spreads a moving edge over a few pixels: margin ~ 2 x its scale)."""
    still = ((videos[:, :, 1:] - videos[:, :, :-1]).abs().amax(dim=1) <= tolerance).float()  # (B, T-1, H, W)
    return -F.max_pool2d(-still, 2 * margin + 1, stride=1, padding=margin) > 0.5  # eroded


def superres_report(stages: dict, oracle, n: int = 16, frames: int = 8, fps: float = 8, steps: int = 20,
                    seed: int = 0) -> dict:
    """Each SR stage against its baselines on held-out clips, judged against the true renders.

    stages: {"SR_l^t": (model, size_in, size_out), "SR_l per frame": ..., "SR_h": ...}; each
    entry is run on the true clips at size_in (so every stage is judged on its own job), beside
    bicubic upsampling, and SR_h also with independent noise per frame (image networks otherwise
    share one noise over the frames: the per-frame SR_l baseline gets that, its best case). Per
    method: PSNR, SSIM, edge sharpness (1 = the truth's), flicker on static pixels (the truth's is
    0), FID-lite (the oracle reads every frame at its own size: it says whether SR kept the content,
    not how fine the detail is) and seconds per clip.
    """
    world = ShapesWorld(size=32, seed=EVAL_SEED)
    report, truths = {"n": n, "frames": frames, "fps": fps}, {}

    def truth(size):
        if size not in truths:
            truths[size] = world.videos(range(n), frames, fps, size=size)[0]
        return truths[size]

    def judge(clips, size, scale):
        real = truth(size)
        return {"psnr": psnr(clip_frames(clips), clip_frames(real)).mean().item(),
                "ssim": ssim(clip_frames(clips), clip_frames(real)).mean().item(),
                "sharpness": edge_sharpness(clip_frames(clips), clip_frames(real)).nanmean().item(),
                "flicker": flicker(clips, static_mask(real, margin=2 * scale + 1)).nanmean().item(),
                "fid": fid_lite(oracle, clip_frames(real), clip_frames(clips))}

    for name, (model, size_in, size_out) in stages.items():
        low, scale = truth(size_in), size_out // size_in
        runs = {name: {}} | ({f"{name}, independent noise": {"shared_noise": False}} if name == "SR_h" else {})
        for label, extra in runs.items():
            start = time.perf_counter()
            out = sr_lib.sample(model, low, size_out, steps=steps, seed=seed, fps=fps, **extra).cpu()
            report[label] = judge(out, size_out, scale) | {"seconds_per_clip": (time.perf_counter() - start) / n,
                                                           "from": size_in, "to": size_out}
        bicubic = f"bicubic {size_in}->{size_out}"
        if bicubic not in report:
            up = F.interpolate(clip_frames(low), size=(size_out, size_out), mode="bicubic", align_corners=False)
            report[bicubic] = judge(rearrange(up.clamp(-1, 1), "(b t) c h w -> b c t h w", b=n), size_out, scale)
    return report
