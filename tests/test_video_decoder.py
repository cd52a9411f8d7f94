"""D^t: inflated from a trained D, trained on unlabeled clips with fps, sampled as clips."""

import pytest
import torch

from mav_lite.checkpoints import load_model
from mav_lite.clip import frozen_clip
from mav_lite.config import get_preset
from mav_lite.pseudo3d import VideoUNet, temporal_parameter_names
from mav_lite.train import train
from mav_lite.video_decoder import OPTIONS, build, conditioning_frame, sample

QUIET = dict(progress=False, save_every=1000, sample_every=1000, val_every=1000, precision="no")


@pytest.fixture(scope="module")
def image_decoder(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "decoder"
    train("decoder", "ci", out, steps=3, lr=1e-3, warmup=1, **QUIET)
    return out


def options(**kw) -> dict:
    return {**OPTIONS, **kw}


def test_inflated_build_equals_the_trained_d_on_every_frame(image_decoder):
    d, _ = load_model(image_decoder, "decoder")
    dt = build(get_preset("ci"), options(decoder=str(image_decoder))).eval()
    video, t = torch.randn(2, 3, 5, 16, 16), torch.tensor([3, 800])
    maps = frozen_clip().encode_image(conditioning_frame(video), as_map=True)  # what D and D^t read
    expected = torch.stack([d(video[:, :, f], t, cond=maps) for f in range(5)], dim=2)
    assert (dt(video, t, cond=maps, fps=torch.tensor([2.0, 24.0])) - expected).abs().max() <= 1e-5


def test_scratch_has_the_same_architecture_with_other_weights(image_decoder):
    inflated = build(get_preset("ci"), options(decoder=str(image_decoder)))
    scratch = build(get_preset("ci"), options(start="scratch"))
    assert scratch.config == inflated.config
    a, b = dict(inflated.named_parameters()), dict(scratch.named_parameters())
    assert a.keys() == b.keys() and not torch.equal(a["stem.weight"], b["stem.weight"])


def test_a_d_of_another_preset_is_refused_with_the_command_to_make_one():
    with pytest.raises(ValueError, match="mav-lite train decoder --preset ci"):
        build(get_preset("ci"), options())  # the reference D belongs to the cpu preset
    with pytest.raises(ValueError, match="start must be one of"):
        build(get_preset("ci"), options(start="pretrained"))
    with pytest.raises(ValueError, match="would stay random"):
        build(get_preset("ci"), options(start="scratch", train="temporal"))


def test_d_t_must_share_the_recipe_of_the_d_it_inflates(image_decoder):
    with pytest.raises(ValueError, match="prediction='v' \\(D\\^t: 'eps'\\)"):
        build(get_preset("ci"), options(decoder=str(image_decoder), prediction="eps"))


def test_a_vector_conditioned_d_inflates_exactly_and_d_t_reads_y_e_too(tmp_path):
    d_vector = train("decoder", "ci", tmp_path / "d", steps=2, lr=1e-3, warmup=1, options={"embedding": "vector"},
                     **QUIET).ema
    with pytest.raises(ValueError, match="embedding='vector' \\(D\\^t: 'map'\\)"):
        build(get_preset("ci"), options(decoder=str(tmp_path / "d")))
    run = train("video_decoder", "ci", tmp_path / "dt", steps=2, lr=1e-3, warmup=1,
                options={"decoder": str(tmp_path / "d"), "embedding": "vector"}, **QUIET)
    assert run.model.config["cond_grid"] == 0 and run.model.config["cond_dim"] == frozen_clip().config["embed_dim"]
    dt = build(get_preset("ci"), options(decoder=str(tmp_path / "d"), embedding="vector")).eval()
    video, t = torch.randn(2, 3, 5, 16, 16), torch.tensor([3, 800])
    y_e = frozen_clip().encode_image(conditioning_frame(video))
    expected = torch.stack([d_vector.eval()(video[:, :, f], t, cond=y_e) for f in range(5)], dim=2)
    assert (dt(video, t, cond=y_e, fps=torch.tensor([2.0, 24.0])) - expected).abs().max() <= 1e-5


def test_training_only_the_temporal_layers_keeps_d_frozen(image_decoder, tmp_path):
    run = train("video_decoder", "ci", tmp_path / "dt", steps=3, lr=1e-2, warmup=1,
                options={"decoder": str(image_decoder), "train": "temporal"}, **QUIET)
    d, _ = load_model(image_decoder, "decoder")
    image_params = dict(d.named_parameters())
    temporal = set(temporal_parameter_names(run.model))
    moved = [n for n, p in run.model.named_parameters() if n in temporal and p.abs().sum() > 0
             and (n.endswith("out.weight") or n.startswith("fps_mlp.2"))]
    assert moved  # the zero-initialized output layers have left zero
    for name, p in run.model.named_parameters():
        if name not in temporal:
            assert torch.equal(p, image_params[name]), name


def test_video_decoder_loss_falls_on_unlabeled_clips(image_decoder, tmp_path):
    run = train("video_decoder", "ci", tmp_path / "dt", steps=60, lr=3e-3, warmup=5, batch_size=8,
                options={"decoder": str(image_decoder)}, **(QUIET | {"val_every": 5}))
    val = run.history["val_loss"]  # on a fixed batch with fixed noise
    assert val[-1] < 0.8 * val[0] and val[-1] == min(val), val
    again, card = load_model(tmp_path / "dt", "video_decoder")
    assert isinstance(again, VideoUNet) and card["identity"]["options"]["decoder"] == str(image_decoder)


@pytest.mark.parametrize("frames", [3, 4])
def test_samples_are_clips_of_the_asked_length_and_reproducible(image_decoder, frames):
    dt = build(get_preset("ci"), options(decoder=str(image_decoder))).eval()
    y_e = frozen_clip().encode_image(torch.rand(2, 3, 16, 16) * 2 - 1, as_map=True)
    clips = sample(dt, y_e, frames=frames, size=16, fps=[4, 24], steps=3, seed=0)
    assert clips.shape == (2, 3, frames, 16, 16) and clips.abs().max() <= 1
    assert torch.equal(clips, sample(dt, y_e, frames=frames, size=16, fps=[4, 24], steps=3, seed=0))
    with pytest.raises(ValueError, match="one number or one per clip"):
        sample(dt, y_e, frames=frames, size=16, fps=[4, 8, 24], steps=3)


def test_text_to_video_makes_reproducible_base_clips(image_decoder, tmp_path):
    from mav_lite import MakeAVideoLite
    from mav_lite.checkpoints import REFERENCE_DIR, CheckpointError

    train("prior", "ci", tmp_path / "prior", steps=3, lr=1e-3, warmup=1, **QUIET)
    train("video_decoder", "ci", tmp_path / "dt", steps=2, lr=1e-3, warmup=1,
          options={"decoder": str(image_decoder)}, **QUIET)
    pipe = MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", tmp_path / "prior", image_decoder,
                                       video_decoder=tmp_path / "dt")
    fast = dict(steps=3, prior_steps=3, progress=False)
    out = pipe.text_to_video(["a red circle", "a blue star"], seed=0, fps=4, **fast)
    assert out.videos.shape == (2, 3, 4, 16, 16) and out.video.shape == (3, 4, 16, 16)
    assert out.stages["D^t"] is out.videos and out.fps == 4 and set(out.seconds) == {"P", "D^t"}
    assert torch.equal(out.videos, pipe.text_to_video(["a red circle", "a blue star"], seed=0, fps=4, **fast).videos)
    assert not torch.equal(out.videos, pipe.text_to_video(["a red circle", "a blue star"], seed=1, fps=4, **fast).videos)
    assert pipe.text_to_video("a red circle", frames=3, **fast).video.shape == (3, 3, 16, 16)
    with pytest.raises(ValueError, match="fps must be positive"):
        pipe.text_to_video("a red circle", fps=0, **fast)
    from mav_lite.checkpoints import load_pretrained
    from mav_lite.evaluation import VIDEO_GOALS, text_to_video_report
    from mav_lite.video_oracle import VideoOracle

    report = text_to_video_report(pipe, load_pretrained("oracle")[0], VideoOracle(16, 8), n=3, batch=2, steps=2,
                                  prior_steps=2)
    for group, goals in VIDEO_GOALS.items():
        assert all(0 <= report[group][k] <= 1 for k in goals)
    assert report["motion"]["ratio"] > 0 and report["fvd"] >= 0 and report["fvd_floor"] >= 0
    assert report["motion"]["real fps 4"] > 2 * report["motion"]["real fps 24"]  # real clips: more per frame at low fps
    image_only = MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", tmp_path / "prior", image_decoder)
    with pytest.raises(CheckpointError, match="mav-lite train video_decoder"):
        image_only.text_to_video("a red circle", **fast)
