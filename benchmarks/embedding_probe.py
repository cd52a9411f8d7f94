"""How easily a network reads a two-object scene back out of a CLIP-lite image embedding.

    python benchmarks/embedding_probe.py [--clip data/checkpoints/clip] [--train 24000] [--steps 4000]

D draws from y_e alone, so it binds colours to shapes only as well as it can read each object back
out of y_e. This trains one MLP probe per representation on frozen features of two-object scenes
(objects in reading order of their grid cells) to name each object's colour and shape, and reports
held-out accuracy: per attribute, and all four right at once (what binding needs), beside all four
on 2,000 of the probe's own training scenes. Where that is low too, the probe underfits, and a
larger --train and --steps read more: the table ranks representations at one budget, it is no
ceiling. The same probe on C_y's 4x4 feature map before its projection says whether what is lost
is lost in the convolutions or in the projection to y_e; on the attribute oracle's 256 features
(made to be read) it shows what the budget reads from features that make it easy.

A second table asks how local the map is (what a decoder reading it cell by cell gets): a linear
probe reads, from the one cell under an object's centre, that object's colour and the other object's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mav_lite.checkpoints import REFERENCE_DIR, load_model, load_pretrained
from mav_lite.clip import GRID
from mav_lite.data import ShapesWorld
from mav_lite.data.render import render
from mav_lite.data.world import to_tensor
from mav_lite.data.vocab import COLORS, POSITIONS, SHAPES
from mav_lite.system import describe_machine

CELLS, COLOR_IDS, SHAPE_IDS = list(POSITIONS), {c: i for i, c in enumerate(COLORS)}, {s: i for i, s in enumerate(SHAPES)}


def two_object_scenes(n: int, seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n two-object images, their labels (n, 4): colour and shape of the first object, then of the
    second, the first being the one whose grid cell comes first in reading order; and the objects'
    centres (n, 2, 2) as (x, y) in [0, 1], in the same order."""
    world, scenes, labels, centres, index = ShapesWorld(size=size, seed=seed), [], [], [], 0
    while len(labels) < n:
        batch = [s for s in (world.scene(i) for i in range(index, index + 2048)) if len(s["objects"]) == 2]
        index += 2048
        for scene in batch[: n - len(labels)]:
            first, second = sorted(scene["objects"], key=lambda o: CELLS.index(o["position"]))
            labels.append([COLOR_IDS[first["color"]], SHAPE_IDS[first["shape"]],
                           COLOR_IDS[second["color"]], SHAPE_IDS[second["shape"]]])
            centres.append([[first["x"], first["y"]], [second["x"], second["y"]]])
            scenes.append(scene)
    images = [to_tensor(render([s["objects"] for s in chunk], [s["background"] for s in chunk], size))
              for chunk in (scenes[i:i + 1024] for i in range(0, n, 1024))]
    return torch.cat(images), torch.tensor(labels), torch.tensor(centres)


@torch.no_grad()
def features(clip, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """y_e, and the flattened 4x4 map of C_y's convolutions that its projection reads."""
    grid = torch.cat([clip.image.grid(chunk) for chunk in images.split(512)])
    return {"y_e": clip.image.embed(grid), "map": grid}


def probe(train_x, train_y, test_x, test_y, steps: int, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of an MLP (two hidden layers of 512) with four heads (colour, shape, colour, shape)."""
    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    classes = [len(COLORS), len(SHAPES)] * 2
    net = nn.Sequential(nn.Linear(train_x.shape[1], 512), nn.SiLU(), nn.Dropout(0.1), nn.Linear(512, 512), nn.SiLU(),
                        nn.Linear(512, sum(classes)))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        pick = torch.randint(len(train_x), (256,), generator=generator)
        logits = net(train_x[pick]).split(classes, dim=1)
        loss = sum(F.cross_entropy(l, train_y[pick, k]) for k, l in enumerate(logits))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()
    with torch.no_grad():
        right, seen = (torch.stack([l.argmax(1) for l in net(x).split(classes, dim=1)], dim=1).eq(y)
                       for x, y in ((test_x, test_y), (train_x[:2000], train_y[:2000])))
    return {"colour": right[:, [0, 2]].float().mean().item(), "shape": right[:, [1, 3]].float().mean().item(),
            "both colours": right[:, [0, 2]].all(1).float().mean().item(),
            "both shapes": right[:, [1, 3]].all(1).float().mean().item(), "all four": right.all(1).float().mean().item(),
            "all four, training scenes": seen.all(1).float().mean().item()}


def object_cells(grid: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The flattened 4x4 maps (n, C * 16) -> the cell under each object's centre (n, 2, C)."""
    cells = grid.view(len(grid), -1, GRID * GRID)
    x_cell, y_cell = (centres * GRID).long().clamp(max=GRID - 1).unbind(-1)
    index = y_cell * GRID + x_cell
    return torch.stack([cells[torch.arange(len(grid)), :, index[:, k]] for k in range(2)], dim=1)


def cell_colours(train_cells, train_y, test_cells, test_y, steps: int = 500) -> tuple[float, float]:
    """Held-out accuracy of a linear probe reading, from an object's own cell, its own colour and the
    other object's: (own, other)."""
    colours = train_y[:, [0, 2]]
    x = train_cells.flatten(0, 1)
    mean, std = x.mean(0), x.std(0) + 1e-6
    result = []
    for whose in ([0, 1], [1, 0]):  # the object's own colour, then the other object's
        torch.manual_seed(0)
        linear = nn.Linear(x.shape[1], len(COLORS))
        optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2)
        target = colours[:, whose].flatten()
        for _ in range(steps):
            loss = F.cross_entropy(linear((x - mean) / std), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            guess = linear((test_cells.flatten(0, 1) - mean) / std).argmax(1)
        result.append(guess.eq(test_y[:, [0, 2]][:, whose].flatten()).float().mean().item())
    return result[0], result[1]


def row(who: str, label: str, train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
        steps: int) -> str:
    """One line of the table: the probe trained on `train` features and judged on `test`."""
    r = probe(train, train_y, test, test_y, steps)
    return f"| {who} | {label} | {train.shape[1]} | " + " | ".join(f"{v:.1%}" for v in r.values()) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, nargs="+", default=[REFERENCE_DIR / "clip"],
                        help="CLIP-lite checkpoint folders to compare (default: the reference)")
    parser.add_argument("--train", type=int, default=24000, help="two-object scenes the probe trains on")
    parser.add_argument("--test", type=int, default=2000, help="held-out two-object scenes it is judged on")
    parser.add_argument("--steps", type=int, default=4000, help="probe training steps (batches of 256)")
    args = parser.parse_args()
    print(describe_machine())
    start = time.perf_counter()
    size = load_model(args.clip[0], "clip")[0].config["image_size"]
    train_images, train_y, train_centres = two_object_scenes(args.train, seed=101, size=size)
    test_images, test_y, test_centres = two_object_scenes(args.test, seed=202, size=size)
    print(f"rendered {args.train} + {args.test} two-object scenes at {size}^2 in {time.perf_counter() - start:.0f} s")
    print(f"probe: {args.steps} steps of 256 on {args.train} scenes\n\n| CLIP-lite | features | dims | colour | shape | "
          f"both colours | both shapes | all four | all four, training scenes |\n| --- | --- | --- | --- | --- | --- | --- "
          f"| --- | --- |")
    locality = []
    for folder in args.clip:
        clip, _ = load_model(folder, "clip")
        clip.eval()
        train, test = features(clip, train_images), features(clip, test_images)
        for name, label in (("y_e", "y_e"), ("map", "C_y's 4x4 map")):
            print(row(str(folder), label, train[name], train_y, test[name], test_y, args.steps))
        own, other = cell_colours(object_cells(train["map"], train_centres), train_y,
                                  object_cells(test["map"], test_centres), test_y)
        locality.append(f"| {folder} | {own:.1%} | {other:.1%} |")
    oracle, _ = load_pretrained("oracle")
    with torch.no_grad():
        train, test = (torch.cat([oracle.features(c) for c in x.split(512)]) for x in (train_images, test_images))
    print(row("attribute oracle (made to be read)", "penultimate layer", train, train_y, test, test_y, args.steps))
    print(f"\nlinear probe of the map's cell under each object (chance {1 / len(COLORS):.0%}):\n\n| CLIP-lite | "
          f"its own colour | the other object's colour |\n| --- | --- | --- |")
    print("\n".join(locality))
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
