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
from .metrics import attribute_accuracy, clipsim_lite, fid_lite

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
