import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mav_lite.checkpoints import CheckpointError
from mav_lite.train import lr_at, train

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(save_every=1000, sample_every=1000, val_every=1000, precision="no")


def test_loss_falls_on_a_tiny_model(tmp_path):
    trainer = train("unconditional", "ci", tmp_path / "run", progress=False, steps=80, batch_size=16, lr=2e-3,
                    warmup=10, **FAST)
    losses = trainer.history["loss"]
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:5])
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["step"] == 80 and card["stage"] == "unconditional" and "--steps 80" in card["command"]
    assert card["trained_on"].endswith(f"{torch.get_num_threads()} threads")  # the card says where it trained
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0 and list((tmp_path / "run" / "samples").glob("*.png"))


def test_on_save_sees_the_ema_weights_after_every_checkpoint(tmp_path):
    seen = []
    trainer = train("unconditional", "ci", tmp_path / "run", progress=False, steps=5, batch_size=4,
                    on_save=lambda step, ema: seen.append((step, [p.clone() for p in ema.parameters()])),
                    **(FAST | {"save_every": 2}))
    assert [step for step, _ in seen] == [2, 4, 5]
    assert all(torch.equal(a, b) for a, b in zip(seen[-1][1], trainer.ema.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(seen[0][1], seen[-1][1]))


def test_learning_rate_warms_up_then_decays():
    lrs = [lr_at(s, 100, 1e-3, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] == pytest.approx(1e-4, rel=0.05)


def _command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mav_lite.train", "unconditional", "--preset", "ci", "--steps", "14",
            "--batch-size", "4", "--out", str(out), "--save-every", "2", "--val-every", "5", "--sample-every", "100",
            "--precision", "no", *extra]


def _run(cmd, **kw):
    env = {**os.environ, "TQDM_DISABLE": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kw)


def test_killed_and_resumed_run_equals_the_uninterrupted_one(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _run(_command(whole)).returncode == 0
    kill_after = random.Random().randint(2, 12)  # a random step, different on every run of the test
    proc = subprocess.Popen(_command(killed), cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "checkpoint" / "state.json"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text())["step"] >= kill_after:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = _run(_command(killed, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("checkpoint/model.safetensors", "checkpoint/ema.safetensors", "checkpoint/optimizer.safetensors",
                 "weights.safetensors"):
        a, b = load_file(str(whole / name)), load_file(str(killed / name))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after a kill at step >= {kill_after}"
    history = lambda run: json.loads((run / "checkpoint" / "state.json").read_text())["history"]  # noqa: E731
    assert history(whole) == history(killed)


def test_two_processes_keep_identical_weights(tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)]
    result = _run(cmd)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rank 1 of 2 done" in result.stdout
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_of_another_run_is_refused(tmp_path):
    out = tmp_path / "run"
    train("unconditional", "ci", out, progress=False, steps=2, batch_size=2, **FAST)
    before = (out / "weights.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a run.*--resume.*--overwrite"):
        train("unconditional", "ci", out, progress=False, steps=2, batch_size=2, **FAST)
    with pytest.raises(CheckpointError, match="different run.*batch_size"):
        train("unconditional", "ci", out, progress=False, steps=4, batch_size=3, resume=True, **FAST)
    assert (out / "weights.safetensors").read_bytes() == before  # nothing overwritten
    card = json.loads((out / "card.json").read_text())
    del card["identity"]["options"]["prediction"]  # a run begun before the stage had this option
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="different run.*options"):  # the default is all it may stand for
        train("unconditional", "ci", out, progress=False, steps=4, batch_size=2, resume=True,
              options={"prediction": "eps"}, **FAST)
    more = train("unconditional", "ci", out, progress=False, steps=4, batch_size=2, resume=True, **FAST)
    assert more.history["step"] == [1, 2, 3, 4]
    train("unconditional", "ci", out, progress=False, steps=1, batch_size=2, overwrite=True, **FAST)
    assert json.loads((out / "card.json").read_text())["step"] == 1


def test_bad_training_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown stage 'decoderr'"):
        train("decoderr", "ci", tmp_path / "a")
    with pytest.raises(ValueError, match="unknown preset 'laptop'"):
        train("unconditional", "laptop", tmp_path / "a")
    with pytest.raises(ValueError, match="unknown option.*predicton"):
        train("unconditional", "ci", tmp_path / "a", options={"predicton": "eps"})
    with pytest.raises(ValueError, match="interval must be >= 1.*'sample_every': 0"):
        train("unconditional", "ci", tmp_path / "a", sample_every=0)
    assert not (tmp_path / "a").exists()  # refused before anything was written


def test_init_starts_from_another_runs_weights(tmp_path):
    first = train("unconditional", "ci", tmp_path / "first", progress=False, steps=3, batch_size=2, **FAST)
    tuned = train("unconditional", "ci", tmp_path / "tuned", progress=False, steps=1, batch_size=2, lr=0.0,
                  init=tmp_path / "first", **FAST)  # lr 0: the weights stay where they started
    start = first.ema.state_dict()
    assert all(torch.equal(start[k], v) for k, v in tuned.model.state_dict().items())
    card = json.loads((tmp_path / "tuned" / "card.json").read_text())
    assert f"--init {tmp_path / 'first'}" in card["command"] and card["identity"]["init"] == str(tmp_path / "first")
    first_card = json.loads((tmp_path / "first" / "card.json").read_text())
    assert first_card["init_commands"] == [] and card["init_commands"] == [first_card["command"]]  # the whole recipe
    train("unconditional", "ci", tmp_path / "again", progress=False, steps=1, batch_size=2,
          init=tmp_path / "tuned", **FAST)
    assert json.loads((tmp_path / "again" / "card.json").read_text())["init_commands"] == [first_card["command"],
                                                                                            card["command"]]
    with pytest.raises(CheckpointError, match="stage 'unconditional', not 'oracle'"):
        train("oracle", "ci", tmp_path / "wrong", progress=False, steps=1, init=tmp_path / "first", **FAST)


def test_a_leftover_old_checkpoint_does_not_stop_a_resumed_run(tmp_path):
    """A kill during a save's clean-up leaves checkpoint.old beside checkpoint; the next save must replace it."""
    from mav_lite.train import train

    quiet = dict(progress=False, sample_every=1000, val_every=1000, precision="no", save_every=2)
    train("unconditional", "ci", tmp_path / "run", steps=2, lr=1e-3, warmup=1, **quiet)
    leftover = tmp_path / "run" / "checkpoint.old"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half deleted")
    run = train("unconditional", "ci", tmp_path / "run", steps=4, lr=1e-3, warmup=1, resume=True, **quiet)
    assert run.history["step"][-1] == 4 and not leftover.exists()
