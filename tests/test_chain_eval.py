"""The evaluation set, the measures of `mav-lite eval` and the claims (chain_eval.py, claims.py)."""

import math
from dataclasses import replace

import pytest
import torch

from mav_lite import MakeAVideoLite, claims
from mav_lite.chain_eval import EvalSet, evaluate, generate, judge, markdown_report
from mav_lite.checkpoints import load_pretrained
from mav_lite.claims import generalization, measure, pseudo3d_cost
from mav_lite.cli import main
from mav_lite.config import get_preset


@pytest.fixture(scope="module")
def judges():
    return load_pretrained("oracle")[0], load_pretrained("video_oracle")[0], load_pretrained("clip")[0]


def test_the_set_is_fixed_by_its_seed_and_mixes_groups_and_fps():
    a, b, other = EvalSet(12), EvalSet(12), EvalSet(12, seed=5)
    assert a.captions() == b.captions() and a.captions() != other.captions()
    assert [split for split, _, _ in a.items()] == ["seen"] * 6 + ["held_out"] * 6
    assert {fps for _, _, fps in a.items()} == {4.0, 8.0, 16.0}
    clips, captions, _ = a.clips(8, 16)
    again, _, _ = b.clips(8, 16)
    assert clips.shape == (12, 3, 8, 16, 16) and torch.equal(clips, again) and captions == a.captions()
    for bad in (5, 7, 0):
        with pytest.raises(ValueError, match="even number of clips"):
            EvalSet(bad)


def test_true_clips_at_the_upsampled_rate_hold_the_base_frames():
    base, _, _ = EvalSet(6).clips(8, 16)
    fine, _, _ = EvalSet(6).clips(29, 16, skip=4)
    assert torch.equal(fine[:, :, ::4], base)
    assert not torch.equal(fine[:, :, 1], fine[:, :, 0])  # the frames between are new moments


def test_each_measure_is_at_its_best_on_identical_sets_and_moves_with_damage(judges):
    oracle, video_oracle, clip = judges
    real, captions, _ = EvalSet(16).clips(8, 32)
    same = judge(real, real, captions, oracle, video_oracle, clip)
    assert abs(same["fid"]) < 1e-3 and abs(same["fvd"]) < 1e-3
    assert same["clipsim"] == same["clipsim_real"] and same["motion"] == same["motion_real"]
    assert same["same_object"] == same["same_object_real"]
    noised = (real + 0.6 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    bad = judge(noised, real, captions, oracle, video_oracle, clip)
    assert bad["fid"] > 10 * max(same["fid"], 1e-3) and bad["fvd"] > 10 * max(same["fvd"], 1e-3)
    assert bad["clipsim"] < same["clipsim"] - 0.05 and bad["color"] < same["color"]
    shuffled = real[:, :, torch.randperm(8, generator=torch.Generator().manual_seed(1))]
    assert judge(shuffled, real, captions, oracle, video_oracle, clip)["fvd"] > 1


def test_generation_is_cached_and_resumes_to_the_same_clips(tmp_path):
    pipe = MakeAVideoLite.from_pretrained()
    clips, fast = EvalSet(6), {"steps": 2, "prior_steps": 2}
    first, seconds = generate(pipe, clips, tmp_path, stop_after="D^t", batch=2, progress=False, **fast)
    folder = next(tmp_path.iterdir())
    chunks = sorted(folder.glob("chunk_*.safetensors"))
    assert first["D^t"].shape == (6, 3, 8, 32, 32) and len(chunks) == 6 and seconds["D^t"] > 0
    assert not list(folder.glob("*.tmp"))  # each chunk was written whole, then renamed
    chunks[2].unlink()  # as if interrupted there
    again, _ = generate(pipe, clips, tmp_path, stop_after="D^t", batch=2, progress=False, **fast)
    assert torch.equal(again["D^t"], first["D^t"]) and chunks[2].is_file()
    other, _ = generate(pipe, clips, tmp_path, stop_after="D^t", batch=2, progress=False, steps=3, prior_steps=2)
    assert len(list(tmp_path.iterdir())) == 2 and not torch.equal(other["D^t"], first["D^t"])  # new settings
    before = pipe.weights_id()
    with torch.no_grad():
        next(pipe.video_decoder.parameters())[0] += 0.01  # as if new reference weights were published
    assert pipe.weights_id() != before
    generate(pipe, clips, tmp_path, stop_after="D^t", batch=2, progress=False, **fast)
    assert len(list(tmp_path.iterdir())) == 3  # new weights never read back the old weights' clips
    pipe.preset = replace(pipe.preset, interpolation=replace(pipe.preset.interpolation, blend_start=0.5))
    generate(pipe, clips, tmp_path, stop_after="D^t", batch=2, progress=False, **fast)
    assert len(list(tmp_path.iterdir())) == 4  # nor another preset's (here: where upF starts)


def test_evaluate_uses_the_presets_steps_and_clip_length(tmp_path):
    pipe, ci = MakeAVideoLite.from_pretrained(), get_preset("ci")  # cpu weights (8-frame clips), ci's quick look
    report = evaluate(pipe, ci, tmp_path, claims="", stop_after="D^t", batch=6, progress=False)
    assert ci.eval_frames < pipe.preset.world.frames
    assert report["sampling"] == ci.chain_steps() | {"frames": ci.eval_frames}
    assert report["stages"]["D^t"]["frames"] == ci.eval_frames and report["n"] == ci.eval_clips
    assert f"{ci.eval_frames}-frame base clips" in (tmp_path / "report.md").read_text()


def test_pseudo3d_cost_claim_counts_what_factorizing_saves():
    result = pseudo3d_cost("ci", batch=1, frames=2, repeats=1)
    n = result["numbers"]
    assert n["params ratio"] < 0.7 and n["ms pseudo-3D"] > 0 and result["verdict"].startswith(("holds", "does not"))


def test_generalization_claim_reads_the_report():
    entry = {"color+shape, training compositions": 0.9, "color+shape, held-out compositions": 0.45}
    result = generalization({"stages": {"D^t": entry}})
    assert result["holds"] is False and "45%" in result["verdict"] and "0.50x" in result["verdict"]
    entry["color+shape, held-out compositions"] = math.nan
    assert generalization({"stages": {"D^t": entry}})["holds"] is None
    report = {"n": 6, "seed": 1, "fps_levels": [8], "stages": {}, "claims": {"f generalization": result}}
    assert "(f) the model composes" in markdown_report(report)


@pytest.mark.parametrize("upf, holds", [((29.0, 23.0, 21.0), True), ((27.5, 23.0, 20.2), "partly"),
                                         ((22.0, 17.0, 15.0), False)])
def test_interpolation_claim_holds_where_upf_beats_the_blend_at_every_skip(monkeypatch, upf, holds):
    blend = (28.9, 22.8, 20.1)  # moving-object PSNR at skips 2, 4, 6
    fake = {f"skip {k}": {"upF": {"moving_psnr": u}, "blend": {"moving_psnr": b}, "nearest": {"moving_psnr": 18.0}}
            for k, u, b in zip((2, 4, 6), upf, blend)}
    monkeypatch.setattr(claims, "interpolation_report", lambda *a, **k: fake)
    result = claims.interpolation(pipe=None, oracle=None)
    assert result["holds"] == holds and result["verdict"].startswith(claims._word(holds))
    assert f"{upf[0] - blend[0]:+.1f} dB at skip 2" in result["verdict"]


def test_unknown_claims_and_bad_set_sizes_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown claim"):
        measure("az", None, None, "ci", {})
    assert main(["eval", "--preset", "ci", "--claims", "x", "--out", str(tmp_path)]) == 2
    assert main(["eval", "--preset", "ci", "--n", "5", "--claims", "", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unknown claim" in err[0] and "even number of clips" in err[1] and len(err) == 2
