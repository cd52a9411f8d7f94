"""One trainer for every stage of the chain, on Hugging Face Accelerate (notebook 02 teaches it).

    mav-lite train unconditional --preset cpu --steps 1500 --out runs/uncond     # or python -m mav_lite.train
    accelerate launch --num_processes 2 -m mav_lite.train unconditional ...       # data-parallel

The same loop runs on a CPU, one GPU, or several GPUs and nodes (Accelerate wraps the model for
data parallelism; each process reads its own slice of the data stream). AdamW, linear warmup then
cosine decay, gradient clipping, EMA weights, a tqdm bar with loss and steps/s, a validation loss
on a fixed batch, sample grids and a loss curve in the run folder.

Precision follows the hardware: bf16 autocast on a GPU that supports it; on a CPU only where the
processor has bf16 instructions (on an AVX2-only processor a bf16 conv measured ~35x slower).

Resuming is bitwise: everything random in step s comes from a seed derived from (seed, s, rank),
and the data position is (s * processes + rank) * batch, so a checkpoint needs only the weights,
the EMA, the optimizer state and the step to continue exactly as the uninterrupted run would.

A stage registers itself with `register_stage(Stage(...))`: how to build its model from a preset,
its data stream, its loss and how to draw samples. `STAGE_MODULES` lists the modules that do.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import math
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoints as ckpt
from .config import PRESETS, Preset, get_preset
from .system import device_name, native_bf16
from .unet import UNet

STAGE_MODULES = ("mav_lite.unconditional", "mav_lite.clip", "mav_lite.oracle", "mav_lite.prior", "mav_lite.decoder",
                 "mav_lite.video_decoder", "mav_lite.video_oracle", "mav_lite.interpolation",
                 "mav_lite.superres")
VAL_POSITION = 1 << 40  # validation samples come from far beyond any training position


@dataclass(frozen=True)
class Stage:
    """What the trainer needs to know about one stage of the chain."""

    name: str
    description: str
    sizes: Callable[[Preset], Any]  # the preset's sizes for this stage: .batch_size, .train_steps
    build: Callable[[Preset, dict], torch.nn.Module]  # (preset, options) -> a fresh model with .config
    # (preset, options, data_seed, batch, position, samples: all the run will draw) -> stream
    stream: Callable[[Preset, dict, int, int, int, int], Any]
    loss: Callable[..., torch.Tensor]  # (model, batch, generator, options) -> scalar loss
    sample: Callable[..., torch.Tensor] | None  # (model, n, seed, preset, options) -> images (n, 3, H, W); None: no grids
    rebuild: Callable[[dict], torch.nn.Module]  # the model's .config (saved in its card) -> the model
    options: dict = field(default_factory=dict)  # stage options and their defaults

    def build_from_card(self, card: dict) -> torch.nn.Module:
        return self.rebuild(card["config"])


STAGES: dict[str, Stage] = {}


def register_stage(stage: Stage) -> Stage:
    STAGES[stage.name] = stage
    return stage


def _load_stages() -> list[str]:
    for module in STAGE_MODULES:
        importlib.import_module(module)
    return list(STAGES)


def get_stage(name: str) -> Stage:
    if name not in _load_stages():
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return STAGES[name]


def shapes_image_stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
                        samples: int):
    """The `stream` of stages that learn from Shapes World images and captions."""
    from .data import ImageStream, ShapesWorld

    return ImageStream(ShapesWorld(size=preset.world.image_size, seed=data_seed), batch_size, position)


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup to `lr`, then cosine decay to 10% of it."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _recipe(card: dict) -> list[str]:
    """The commands that made a checkpoint's weights, oldest first: what --init from it builds on."""
    return [*card.get("init_commands", []), card["command"]]


def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of everything random in one step of one process."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


@dataclass
class TrainConfig:
    stage: str
    preset: str
    out: Path
    steps: int | None = None  # default: the preset's train_steps for the stage
    batch_size: int | None = None  # per process; default: the preset's
    lr: float = 3e-4
    warmup: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    data_seed: int = 0
    save_every: int = 250
    sample_every: int = 500
    val_every: int = 100
    precision: str = "auto"  # "auto", "no" (fp32), "bf16", "fp16"
    options: dict = field(default_factory=dict)
    init: Path | None = None  # a checkpoint folder of the same stage and shape to start from (fine-tuning)
    resume: bool = False
    overwrite: bool = False

    def command(self) -> str:
        """The command line that makes this run again."""
        parts = ["mav-lite", "train", self.stage, "--preset", self.preset, "--steps", str(self.steps),
                 "--out", str(self.out), "--batch-size", str(self.batch_size), "--lr", str(self.lr),
                 "--warmup", str(self.warmup), "--seed", str(self.seed), "--data-seed", str(self.data_seed),
                 "--precision", self.precision]
        if self.init is not None:
            parts += ["--init", str(self.init)]
        for key, value in self.options.items():
            parts += ["--option", f"{key}={json.dumps(value)}"]
        return shlex.join(parts)


class Trainer:
    """Trains one stage; `fit()` returns the history {"step", "loss", "val_step", "val_loss"}."""

    def __init__(self, config: TrainConfig, progress: bool = True, on_save=None):
        from accelerate import Accelerator

        self.cfg, self.progress, self.on_save = config, progress, on_save  # on_save(step, ema) after each save
        self.stage = get_stage(config.stage)
        self.preset = get_preset(config.preset)
        unknown = set(config.options) - set(self.stage.options)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for stage {self.stage.name!r}; "
                             f"options: {self.stage.options}")
        self.options = {**self.stage.options, **config.options}
        sizes = self.stage.sizes(self.preset)
        config.steps = config.steps if config.steps is not None else sizes.train_steps
        config.batch_size = config.batch_size or sizes.batch_size
        if config.steps < 1 or config.batch_size < 1:
            raise ValueError(f"steps and batch size must be >= 1, got {config.steps} and {config.batch_size}")
        intervals = {"save_every": config.save_every, "sample_every": config.sample_every, "val_every": config.val_every}
        if min(intervals.values()) < 1:
            raise ValueError(f"every interval must be >= 1 step (a run always saves, validates and samples at its "
                             f"end; more steps than the run has means only then), got {intervals}")
        cuda = torch.cuda.is_available()
        precision = config.precision
        if precision == "auto":
            precision = "bf16" if native_bf16(torch.device("cuda" if cuda else "cpu")) else "no"
        self.acc = Accelerator(mixed_precision=precision, cpu=not cuda)  # cpu: several processes use gloo
        self.init_commands: list[str] = []  # what made the --init weights (fit reads it), for the card
        self.precision = precision
        self.rank, self.world = self.acc.process_index, self.acc.num_processes

    def identity(self) -> dict:
        """What a resumed run must share with the original."""
        c = self.cfg
        return {"stage": c.stage, "preset": c.preset, "batch_size": c.batch_size, "lr": c.lr, "warmup": c.warmup,
                "grad_clip": c.grad_clip, "ema_decay": c.ema_decay, "seed": c.seed, "data_seed": c.data_seed,
                "precision": self.precision, "processes": self.world, "options": self.options,
                "init": None if c.init is None else str(c.init)}

    # ---- checkpoints ---------------------------------------------------------------------

    def _save(self, model, ema, optimizer, step: int, history: dict) -> None:
        out = Path(self.cfg.out)
        tmp, final, old = out / (ckpt.RESUME_DIR + ".tmp"), out / ckpt.RESUME_DIR, out / (ckpt.RESUME_DIR + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ckpt.save_tensors(model.state_dict(), tmp / "model.safetensors")
        ckpt.save_tensors(ema.state_dict(), tmp / "ema.safetensors")
        tensors, groups = ckpt.optimizer_tensors(optimizer)
        ckpt.save_tensors(tensors, tmp / "optimizer.safetensors")
        ckpt.save_json({"step": step, "data_position": self._position(step, 0), "param_groups": groups,
                        "history": history}, tmp / "state.json")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)  # a kill during the last save's clean-up can leave it behind
            final.rename(old)
        tmp.rename(final)  # the switch: a kill before it keeps the old checkpoint, see _recover
        shutil.rmtree(old, ignore_errors=True)
        ckpt.save_tensors(ema.state_dict(), out / ckpt.WEIGHTS)
        metrics = {"loss": float(np.mean(history["loss"][-50:]))}
        if history["val_loss"]:
            metrics["val_loss"] = history["val_loss"][-1]
        ckpt.save_json(ckpt.card(self.cfg.stage, self.cfg.preset, model.config, self.identity(), step, metrics,
                                 self.cfg.command(), self.init_commands, device_name(self.acc.device)), out / ckpt.CARD)

    def _recover(self) -> None:
        """A kill between the two renames of _save leaves only checkpoint.old: put it back."""
        out = Path(self.cfg.out)
        final, old = out / ckpt.RESUME_DIR, out / (ckpt.RESUME_DIR + ".old")
        if not final.exists() and old.exists():
            old.rename(final)

    def _load(self, model, ema, optimizer) -> tuple[int, dict]:
        folder = Path(self.cfg.out) / ckpt.RESUME_DIR
        state = json.loads((folder / "state.json").read_text())
        ckpt.load_into(model, ckpt.load_tensors(folder / "model.safetensors"), folder / "model.safetensors")
        ckpt.load_into(ema, ckpt.load_tensors(folder / "ema.safetensors"), folder / "ema.safetensors")
        ckpt.restore_optimizer(optimizer, ckpt.load_tensors(folder / "optimizer.safetensors"), state["param_groups"])
        return state["step"], state["history"]

    # ---- the loop ------------------------------------------------------------------------

    def _position(self, step: int, rank: int) -> int:
        return (step * self.world + rank) * self.cfg.batch_size

    def _val_loss(self, model, batch) -> float:
        generator = torch.Generator(device=self.acc.device).manual_seed(1234)  # the same noise every time
        model.eval()
        with torch.no_grad(), self.acc.autocast():
            loss = self.stage.loss(model, batch, generator, self.options)
        model.train()
        return float(loss)

    def _write_pictures(self, ema, step: int, history: dict) -> None:
        """A grid of samples from the EMA model (for stages that draw) and the loss curve."""
        from matplotlib.figure import Figure
        from .viz import plot_losses, save_image_grid

        out = Path(self.cfg.out)
        if self.stage.sample is not None:
            images = self.stage.sample(ema, 16, 0, self.preset, self.options)
            save_image_grid(images, out / "samples" / f"step_{step:06d}.png")
        fig = Figure(figsize=(5, 3))
        curves = {"train": history["loss"]}
        plot_losses(curves, title=f"{self.cfg.stage} (step {step})", smooth=min(25, len(history["loss"])),
                    ax=fig.subplots())
        if history["val_loss"]:
            fig.axes[0].plot(history["val_step"], history["val_loss"], "o-", ms=3, label="validation")
            fig.axes[0].legend()
        fig.tight_layout()
        fig.savefig(out / "loss.png", dpi=100)

    def fit(self) -> dict:
        cfg, acc = self.cfg, self.acc
        if acc.is_main_process:  # one process checks and prepares the folder; all then read it
            self._recover()
            found = ckpt.prepare_run_dir(cfg.out, self.identity(), cfg.resume, cfg.overwrite, self.stage.options)
            if cfg.resume and not found:
                print(f"nothing to resume in {cfg.out}: starting from step 0")
        acc.wait_for_everyone()
        resumable = cfg.resume and (Path(cfg.out) / ckpt.RESUME_DIR / "state.json").is_file()

        torch.manual_seed(cfg.seed)  # the same initial weights in every process
        model = self.stage.build(self.preset, self.options)
        if cfg.init is not None and not resumable:  # fine-tuning: start from another run's EMA weights
            weights = Path(cfg.init) / ckpt.WEIGHTS
            self.init_commands = _recipe(ckpt.load_card(cfg.init, cfg.stage))
            ckpt.load_into(model, ckpt.load_tensors(weights), weights, new=getattr(model, "STARTS_AS_IDENTITY", ()))
        elif resumable and (Path(cfg.out) / ckpt.CARD).is_file():  # the run's own card knows
            self.init_commands = ckpt.load_card(cfg.out).get("init_commands", [])
        if isinstance(model, UNet) and acc.device.type == "cpu":  # with its channels-last input (UNet.forward):
            model.to(memory_format=torch.channels_last)  # a step of the cpu D 1.5x faster (benchmarks/train_speed.py)
        ema = copy.deepcopy(model).requires_grad_(False).eval()
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        step, history = 0, {"step": [], "loss": [], "val_step": [], "val_loss": []}
        if resumable:
            step, history = self._load(model, ema, optimizer)
        model, optimizer = acc.prepare(model, optimizer)
        ema.to(acc.device)
        raw = acc.unwrap_model(model)

        samples = cfg.steps * self.world * cfg.batch_size  # what the whole run draws (schedules use it)
        stream = self.stage.stream(self.preset, self.options, cfg.data_seed, cfg.batch_size,
                                   self._position(step, self.rank), samples)
        stream.stride = self.world * cfg.batch_size  # each process reads every world-th batch
        val_batch = next(iter(self.stage.stream(self.preset, self.options, cfg.data_seed, cfg.batch_size,
                                                VAL_POSITION, samples)))
        if acc.is_main_process:
            n_params = sum(p.numel() for p in raw.parameters())
            precision = "fp32" if self.precision == "no" else self.precision  # accelerate's "no": no mixed precision
            print(f"{self.preset.summary()}\nstage {cfg.stage}: {n_params / 1e6:.2f}M parameters, "
                  f"batch {cfg.batch_size} x {self.world} process(es), {cfg.steps} steps, precision "
                  f"{precision}, on {acc.device}" + (f", resuming at step {step}" if step else ""))
        bar = tqdm(total=cfg.steps, initial=step, desc=cfg.stage, disable=not (self.progress and acc.is_main_process),
                   dynamic_ncols=True)
        batches = iter(stream)
        start, start_step = time.perf_counter(), step
        while step < cfg.steps:
            seed = step_seed(cfg.seed, step, self.rank)
            torch.manual_seed(seed)  # for stage code that draws from the global generator (dropout)
            generator = torch.Generator(device=acc.device).manual_seed(seed)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg.steps, cfg.lr, cfg.warmup)
            batch = next(batches)
            with acc.autocast():
                loss = self.stage.loss(model, batch, generator, self.options)
            acc.backward(loss)
            acc.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))  # a short EMA while the weights move fast
            with torch.no_grad():
                for e, p in zip(ema.parameters(), raw.parameters()):
                    e.lerp_(p.detach().float(), 1 - decay)
                for e, b in zip(ema.buffers(), raw.buffers()):
                    e.copy_(b)
            step += 1
            history["step"].append(step)
            history["loss"].append(acc.reduce(loss.detach(), "mean").item())
            if acc.is_main_process:
                if step % cfg.val_every == 0 or step == cfg.steps:
                    history["val_step"].append(step)
                    history["val_loss"].append(self._val_loss(raw, val_batch))
                rate = (step - start_step) / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", steps_per_s=f"{rate:.2f}", refresh=False)
                bar.update(1)
                if step % cfg.save_every == 0 or step == cfg.steps:
                    self._save(raw, ema, optimizer, step, history)
                    if self.on_save is not None:
                        self.on_save(step, ema)
                if step % cfg.sample_every == 0 or step == cfg.steps:
                    self._write_pictures(ema, step, history)
            if step % cfg.save_every == 0:
                acc.wait_for_everyone()
        bar.close()
        self.model, self.ema = raw, ema
        return history


def train(stage: str, preset: str | None = None, out="runs/run", progress: bool = True, on_save=None,
          **kwargs) -> Trainer:
    """Train `stage` (see `TrainConfig` for the knobs); returns the trainer with .model, .ema, .history.
    on_save(step, ema): called after each checkpoint (every save_every steps and at the end), e.g. to
    measure the EMA weights along the way."""
    trainer = Trainer(TrainConfig(stage=stage, preset=get_preset(preset).name, out=Path(out), **kwargs), progress,
                      on_save)
    trainer.history = trainer.fit()
    return trainer


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"options look like key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("stage", help="the stage to train: " + ", ".join(_load_stages()))
    p.add_argument("--preset", default=None, help=f"{', '.join(PRESETS)} (default: $MAV_LITE_PROFILE)")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: the preset's)")
    p.add_argument("--out", type=Path, required=True, help="the run folder")
    p.add_argument("--batch-size", type=int, default=None, help="per process (default: the preset's)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--precision", default="auto", choices=["auto", "no", "bf16", "fp16"])
    p.add_argument("--option", type=_option, action="append", default=[], help="a stage option, key=value")
    p.add_argument("--init", type=Path, default=None,
                   help="start from the weights of this checkpoint folder (same stage and sizes), e.g. to fine-tune")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def run(args: argparse.Namespace) -> None:
    fields = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "warmup", "seed", "data_seed", "save_every",
                                            "sample_every", "val_every", "precision", "init", "resume", "overwrite")}
    trainer = train(args.stage, args.preset, args.out, options=dict(args.option), **fields)
    if trainer.acc.is_main_process:
        h = trainer.history
        print(f"step {h['step'][-1]}: loss {np.mean(h['loss'][-50:]):.4f}"
              + (f", validation loss {h['val_loss'][-1]:.4f}" if h["val_loss"] else "")
              + f"; weights and card in {args.out}")


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
