import json
import shutil

import pytest
import torch

from mav_lite.checkpoints import (CARD, WEIGHTS, CheckpointError, load_card, load_into, load_pretrained, load_tensors,
                                  optimizer_tensors, restore_optimizer, save_tensors)
from mav_lite.train import train
from mav_lite.unet import UNet

FAST = dict(save_every=1000, sample_every=1000, val_every=1000, precision="no")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    train("unconditional", "ci", out, progress=False, steps=2, batch_size=2, **FAST)
    return out


@pytest.fixture
def reference(run, tmp_path):
    """A data/checkpoints-like folder holding the run's card and weights."""
    folder = tmp_path / "checkpoints" / "unconditional"
    folder.mkdir(parents=True)
    for name in (CARD, WEIGHTS):
        shutil.copy(run / name, folder / name)
    return folder


def test_load_pretrained_gives_the_ema_weights(run, reference):
    model, card = load_pretrained("unconditional", root=reference.parent)
    saved = load_tensors(run / WEIGHTS)
    assert all(torch.equal(model.state_dict()[k], saved[k]) for k in saved)
    assert card["step"] == 2 and not model.training


def test_missing_reference_names_the_command(tmp_path):
    with pytest.raises(CheckpointError, match="mav-lite train unconditional"):
        load_pretrained("unconditional", root=tmp_path)
    with pytest.raises(CheckpointError, match="unknown stage"):
        load_pretrained("nope", root=tmp_path)


def test_truncated_or_corrupt_weights(reference):
    data = (reference / WEIGHTS).read_bytes()
    (reference / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_pretrained("unconditional", root=reference.parent)
    (reference / WEIGHTS).write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_pretrained("unconditional", root=reference.parent)
    (reference / WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_pretrained("unconditional", root=reference.parent)


def test_card_of_another_stage_or_broken(reference):
    card = json.loads((reference / CARD).read_text())
    (reference / CARD).write_text(json.dumps(card | {"stage": "prior"}))
    with pytest.raises(CheckpointError, match="stage 'prior', not 'unconditional'"):
        load_pretrained("unconditional", root=reference.parent)
    (reference / CARD).write_text(json.dumps(card | {"preset": "laptop"}))
    with pytest.raises(CheckpointError, match="unknown preset 'laptop'"):
        load_pretrained("unconditional", root=reference.parent)
    (reference / CARD).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_card(reference)


def test_wrong_shapes_name_the_tensor_and_both_shapes(reference):
    card = json.loads((reference / CARD).read_text())
    card["config"]["channels"] = 24
    (reference / CARD).write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"tensor '[\w.]+' has shape \(16,?.*\), the model expects \(24,?.*\)"):
        load_pretrained("unconditional", root=reference.parent)
    model = UNet(16, (1, 2), (1,), res_blocks=1)
    tensors = dict(model.state_dict())
    tensors.pop("stem.bias")
    with pytest.raises(CheckpointError, match="missing.*stem.bias"):
        load_into(model, tensors, reference / WEIGHTS)
    with pytest.raises(CheckpointError, match="missing.*stem.bias"):  # only the parts named new may be missing
        load_into(model, tensors, reference / WEIGHTS, new=("cell_mixer.",))
    load_into(model, tensors, reference / WEIGHTS, new=("stem.",))


def test_optimizer_state_round_trips(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, groups = optimizer_tensors(opt)
    save_tensors(tensors, tmp_path / "opt.safetensors")
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)
    restore_optimizer(fresh, load_tensors(tmp_path / "opt.safetensors"), json.loads(json.dumps(groups)))
    for a, b in zip(opt.state.values(), fresh.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_publish_stores_float16_that_loads_back(run, tmp_path):
    from mav_lite.checkpoints import publish

    folder = publish(run, root=tmp_path)
    assert folder == tmp_path / "unconditional"
    assert (folder / WEIGHTS).stat().st_size < 0.6 * (run / WEIGHTS).stat().st_size
    model, card = load_pretrained("unconditional", root=tmp_path)
    saved = load_tensors(run / WEIGHTS)
    assert card["weights_dtype"] == "float16"
    for name, value in model.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, saved[name].half().float())
