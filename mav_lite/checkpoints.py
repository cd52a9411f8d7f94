"""Checkpoints: safetensors for tensors, a JSON card for everything else. Never unpickled.

A training run folder (`mav-lite train ... --out runs/NAME`) holds

    card.json              the model card: stage, preset, model config, step, seeds, metrics, version,
                           git commit and the exact command that reproduces the run
    weights.safetensors    the EMA weights: what sampling, notebooks and `load_pretrained` use
    checkpoint/            everything to resume bitwise: model, ema, optimizer and RNG states
                           (*.safetensors) and state.json (step, data position, history)

Reference weights live in data/checkpoints/STAGE/ as card.json + weights.safetensors.
Every failure is a `CheckpointError` that says which file and what to do, and loading never
writes anything: a missing file, a truncated or corrupt file, a card for another stage, a tensor of
the wrong shape (named, with both shapes), a run folder that holds a different run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from . import __version__
from .config import PRESETS

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
CARD, WEIGHTS, RESUME_DIR = "card.json", "weights.safetensors", "checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the fix."""


def git_commit() -> str | None:
    """The commit of the source tree the package runs from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary name, then rename: a kill mid-write never leaves a half file."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Tensors to a safetensors file (with string `metadata` in its header), written atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    _atomic_write(Path(path), lambda p: save_file(tensors, str(p), metadata=metadata))


def save_json(data: dict, path: Path) -> None:
    _atomic_write(Path(path), lambda p: p.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n"))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({err}); "
                              "delete it and train again, or restore it from git") from None


def load_card(folder: Path, stage: str | None = None) -> dict:
    """The card of a checkpoint folder, checked to belong to `stage` when given."""
    path = Path(folder) / CARD
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (is {folder} a checkpoint folder?)")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(card, dict) or "stage" not in card or "config" not in card:
        raise CheckpointError(f"{path}: not a mav_lite model card (no stage or config)")
    if card.get("preset") not in PRESETS:
        raise CheckpointError(f"{path}: made with unknown preset {card.get('preset')!r}; presets: {', '.join(PRESETS)}")
    if stage is not None and card["stage"] != stage:
        raise CheckpointError(f"{path}: a checkpoint of stage {card['stage']!r}, not {stage!r}")
    return card


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], source: Path, new: tuple[str, ...] = ()) -> None:
    """Copy tensors into a module, refusing missing, unexpected or wrongly shaped tensors; parts whose
    names start with one of `new` may be missing (they keep their initialization)."""
    own = module.state_dict()
    missing = sorted(k for k in own.keys() - tensors.keys() if not k.startswith(new))
    unexpected = sorted(tensors.keys() - own.keys())
    if missing or unexpected:
        raise CheckpointError(f"{source}: does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
                              + (" (and more)" if len(missing) > 5 or len(unexpected) > 5 else ""))
    for name, value in tensors.items():
        if value.shape != own[name].shape:
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(value.shape)}, "
                                  f"the model expects {tuple(own[name].shape)}")
    module.load_state_dict(tensors, strict=False)  # every key checked above


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """An optimizer's state as flat tensors ("state.I.NAME") plus its param groups (JSON-able)."""
    sd = optimizer.state_dict()
    tensors = {f"state.{i}.{name}": torch.as_tensor(v) for i, s in sd["state"].items() for name, v in s.items()}
    return tensors, sd["param_groups"]


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, i, name = key.split(".", 2)
        state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def prepare_run_dir(out: Path, identity: dict, resume: bool, overwrite: bool, option_defaults: dict) -> bool:
    """Make the run folder ready; True when there is a checkpoint to resume from.

    A folder that holds another run is refused unless `overwrite` (which empties it) or, for the
    same run, `resume`. `identity` is what must match to resume (stage, preset, model, data); an
    option the stage gained after the run began counts as its default (`option_defaults`), which
    keeps the old behaviour.
    """
    out = Path(out)
    card_path = out / CARD
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: exists and is not a folder")
    if overwrite and out.exists():
        shutil.rmtree(out)
    if not card_path.is_file():
        if out.exists() and any(out.iterdir()) and not resume:
            raise CheckpointError(f"{out}: not empty and holds no run; choose another --out or pass --overwrite")
        out.mkdir(parents=True, exist_ok=True)
        return False
    card = load_card(out)
    if not resume:
        raise CheckpointError(f"{out}: already holds a run (stage {card['stage']!r}, step {card.get('step')}); "
                              "pass --resume to continue it or --overwrite to replace it")
    theirs = dict(card.get("identity", {}))
    if "options" in theirs:
        theirs["options"] = {**option_defaults, **theirs["options"]}
    if theirs != identity:
        diff = sorted(k for k in identity.keys() | theirs.keys() if identity.get(k) != theirs.get(k))
        raise CheckpointError(f"{out}: holds a different run (differs in {', '.join(diff)}); "
                              "use another --out, or --overwrite to replace it")
    return (out / RESUME_DIR / "state.json").is_file()


def _stage(name: str):
    from .train import get_stage

    try:
        return get_stage(name)
    except ValueError as err:
        raise CheckpointError(str(err)) from None


def load_model(folder: Path, stage: str | None = None, device: str | torch.device = "cpu"):
    """The model saved in `folder` (a run folder or a reference one: card + EMA weights), in eval mode,
    and its card."""
    folder = Path(folder)
    card = load_card(folder, stage)
    model = _stage(card["stage"]).build_from_card(card)
    load_into(model, load_tensors(folder / WEIGHTS), folder / WEIGHTS)
    return model.to(device).eval(), card


def load_pretrained(stage: str, root: Path = REFERENCE_DIR, device: str | torch.device = "cpu"):
    """The reference model of `stage` from data/checkpoints (EMA weights), in eval mode, and its card."""
    folder = Path(root) / stage
    _stage(stage)  # an unknown stage is a clear error
    if not (folder / CARD).is_file():
        raise CheckpointError(f"no reference checkpoint for {stage!r} in {folder}; train one with "
                              f"`mav-lite train {stage} --preset cpu --out runs/{stage}` and publish it "
                              f"with `mav-lite publish runs/{stage}`")
    return load_model(folder, stage, device)


def card(stage: str, preset: str, config: dict, identity: dict, step: int, metrics: dict, command: str,
         init_commands: list[str] = (), trained_on: str | None = None) -> dict:
    """A model card: what the weights are, how to make them again (the commands that made the weights
    it started from, oldest first, then its own) and on what they were trained."""
    return {"stage": stage, "preset": preset, "config": config, "identity": identity, "step": step,
            "metrics": metrics, "mav_lite_version": __version__, "git_commit": git_commit(),
            "torch_version": torch.__version__, "init_commands": list(init_commands), "command": command,
            "trained_on": trained_on}


def publish(run: Path, root: Path = REFERENCE_DIR) -> Path:
    """Make a run's EMA weights the reference of its stage: data/checkpoints/STAGE/, stored in float16.

    float16 halves the size (all reference weights together stay under ~60 MB); loading casts back
    to the model's float32.
    """
    run = Path(run)
    card_ = load_card(run)
    tensors = load_tensors(run / WEIGHTS)
    folder = Path(root) / card_["stage"]
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, folder / WEIGHTS)
    save_json(card_ | {"weights_dtype": "float16"}, folder / CARD)
    return folder
