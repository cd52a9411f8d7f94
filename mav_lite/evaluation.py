"""How well text-to-image works, measured with the attribute oracle (notebook 05, benchmarks, notebook 13).

    report = text_to_image_report(pipe, oracle, n=64)

Prompts are captions of Shapes World scenes the models never trained on (another seed): `n` with
one object and `n` with two from the training compositions, and `n` with one object in a held-out
composition (a colour-shape pair no training image shows). Each prompt's own scene, rendered,
is the real reference for CLIPSIM-lite and FID-lite.
"""

from __future__ import annotations

import time

import torch

from .data import ShapesWorld
from .metrics import (attribute_accuracy, clip_frames, clipsim_lite, fid_lite, fvd_lite, motion_per_frame,
                      plausible_motion, temporal_consistency)

GROUPS = ("one object", "two objects", "held-out")
# issue 4's quality goals: the share of images the oracle must read right, per group and request
GOALS = {"one object": {"color": 0.95, "shape": 0.90, "position": 0.90, "size": 0.85},
         "two objects": {"binding": 0.80}, "held-out": {"color+shape": 0.70}}
EVAL_SEED = 2024  # scenes no training run reads (training uses data seed 0)


def eval_scenes(n: int, size: int, seed: int = EVAL_SEED) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """{group: (real images (n, 3, size, size), their n captions)} for the three prompt groups."""
    world = ShapesWorld(size=size, seed=seed)
    out = {}
    for group, split, count in (("one object", "seen", 1), ("two objects", "seen", 2), ("held-out", "held_out", 1)):
        picked, index = [], 0
        while len(picked) < n:
            if len(world.scene(index, split)["objects"]) == count:
                picked.append(index)
            index += 1
        images, captions, _ = world.images(picked, split=split)
        out[group] = (images, captions)
    return out


def text_to_image_report(pipe, oracle, n: int = 64, seed: int = 0, batch: int = 64, progress: bool = False,
                         **sampling) -> dict:
    """Generate one image per prompt of each group and measure it: attribute accuracy (per group),
    CLIPSIM-lite of generated and of real images, FID-lite against the real images with the
    real-vs-real floor (other scenes, same count), and the seconds per image.

    sampling: steps, guidance, prior_steps, prior_guidance for `pipe.text_to_image`.
    """
    scenes = eval_scenes(n, pipe.image_size)
    report, generated, real = {"n": n}, [], []
    start = time.perf_counter()
    for group, (images, captions) in scenes.items():
        fake = torch.cat([pipe.text_to_image(captions[i:i + batch], seed=seed + i, progress=progress, **sampling)
                          for i in range(0, n, batch)]).cpu()
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


# issue 5's quality goals for base clips (D^t), per group
VIDEO_GOALS = {"one object": {"color": 0.95, "shape": 0.90, "same_object": 0.90, "plausible": 0.90},
               "two objects": {"binding_every_frame": 0.80}}


def eval_clips(n: int, size: int, frames: int, fps: float, seed: int = EVAL_SEED) -> torch.Tensor:
    """n real unlabeled clips (n, 3, frames, size, size) from a world no training run reads: FVD-lite's reference."""
    return ShapesWorld(size=size, seed=seed).videos(range(n), frames, fps)[0]


def text_to_video_report(pipe, oracle, video_oracle, n: int = 32, seed: int = 0, batch: int = 16,
                         fps_pair: tuple[float, float] = (4, 24), progress: bool = False, **sampling) -> dict:
    """Base clips (D^t) for n prompts with one object and n with two, judged frame by frame:

    - one object: colour and shape per frame (share of frames), the same object in every frame and
      plausible motion (share of clips, metrics.plausible_motion), with the same figures for real clips;
    - two objects: binding in every frame (share of clips);
    - motion per frame at the two fps of `fps_pair` for the one-object prompts, and their ratio;
    - FVD-lite of all clips at the preset's fps against as many real clips, beside the real-vs-real floor.

    sampling: steps, guidance, prior_steps, prior_guidance for `pipe.text_to_video`.
    """
    w = pipe.preset.world
    scenes = eval_scenes(n, pipe.image_size)

    def generate(captions, fps):
        return torch.cat([pipe.text_to_video(captions[i:i + batch], seed=seed + i, fps=fps, progress=progress,
                                             **sampling).videos for i in range(0, n, batch)]).cpu()

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
    real = eval_clips(2 * n, pipe.image_size, w.frames, w.fps)
    report["real"] = {"same_object": temporal_consistency(oracle, real).float().mean().item(),
                      "plausible": plausible_motion(oracle, real).float().mean().item()}
    slow, fast = fps_pair
    motion = {fps: motion_per_frame(generate(scenes["one object"][1], fps)).nanmean().item() for fps in fps_pair}
    report["motion"] = {f"fps {slow:g}": motion[slow], f"fps {fast:g}": motion[fast], "ratio": motion[slow] / motion[fast]}
    generated = torch.cat([clips["one object"], clips["two objects"]])
    report["fvd"] = fvd_lite(video_oracle, real, generated)
    report["fvd_floor"] = fvd_lite(video_oracle, real, eval_clips(2 * n, pipe.image_size, w.frames, w.fps,
                                                                  EVAL_SEED + 1))
    return report
