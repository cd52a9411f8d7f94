import pytest

from mav_lite.config import ENV_VAR, PRESETS, get_preset


def test_env_var_picks_the_preset(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "gpu")
    assert get_preset().name == "gpu"
    assert get_preset("ci").name == "ci"  # an explicit name wins


def test_default_without_cuda_is_cpu(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert get_preset().name == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert get_preset().name == "gpu"


@pytest.mark.parametrize("source", ["argument", "env"])
def test_unknown_preset_lists_the_valid_ones(monkeypatch, source):
    monkeypatch.setenv(ENV_VAR, "laptop")
    with pytest.raises(ValueError, match="unknown preset 'laptop'.*ci, cpu, gpu, paper"):
        get_preset("laptop" if source == "argument" else None)


def test_frame_counts_follow_the_paper():
    assert get_preset("paper").frames_after_upf == 76  # (16 - 1) * 5 + 1
    assert get_preset("gpu").frames_after_upf == 76
    assert get_preset("cpu").frames_after_upf == 29  # (8 - 1) * 4 + 1
    assert get_preset("paper").sr_high.size_out == 768 and get_preset("paper").sr_low.size_out == 256


@pytest.mark.parametrize("name", list(PRESETS))
def test_stages_chain_up(name):
    p = get_preset(name)
    assert p.sr_low.size_in == p.world.image_size
    assert p.sr_high.size_in == p.sr_low.size_out
    assert p.sr_low.size_out > p.sr_low.size_in and p.sr_high.size_out > p.sr_high.size_in
    assert max(p.decoder.attention_levels) < len(p.decoder.channel_mults)
    assert name in p.summary() and str(p.world.frames) in p.summary()
