import math

import numpy as np
import pytest
import torch

from mav_lite.diffusion import (PREDICTIONS, NoiseSchedule, classifier_free_guidance, clip_x0, ddim_step, ddpm_step,
                                diffusion_loss, drop_condition, min_snr_weight, q_sample, respaced_timesteps, sample,
                                sample_timesteps, to_x0_eps, training_target, v_target)

SHAPES = {"image": (4, 3, 8, 8), "video": (3, 3, 4, 6, 6), "embedding": (5, 16)}
COSINE = NoiseSchedule("cosine", 1000)


def _per_sample(v, x):
    return v.reshape(-1, *[1] * (x.ndim - 1)).to(x.dtype)


def toy_model(x, t, steps=1000):
    """A fixed, nonlinear, time-dependent stand-in for a network."""
    return torch.tanh(0.8 * x + 0.3 * x.roll(1, dims=1)) * _per_sample(1 + t / steps, x)


def oracle(x_data, schedule, prediction):
    """A perfect model of a data set holding the one sample x_data: exact eps, x_0 or v for any x_t."""
    def model_fn(x_t, t):
        abar = _per_sample(schedule.alpha_bar(t, torch.float64), x_t)
        eps = (x_t - abar.sqrt() * x_data) / (1 - abar).sqrt()
        v = abar.sqrt() * eps - (1 - abar).sqrt() * x_data
        return {"eps": eps, "x0": x_data.expand_as(x_t), "v": v}[prediction]
    return model_fn


# ---- schedules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [2, 10, 1000])
def test_alpha_bar_falls_from_near_one_to_near_zero(kind, steps):
    s = NoiseSchedule(kind, steps)
    for table in (s.betas, s.alphas, s.alpha_bars):
        assert table.dtype == torch.float64 and table.shape == (steps,)
    assert (s.alpha_bars.diff() < 0).all() and (s.alpha_bars > 0).all() and (s.alpha_bars < 1).all()
    assert torch.allclose(s.alpha_bars, torch.cumprod(1 - s.betas, 0))
    assert s.alpha_bars[-1] < 1e-3
    if steps >= 10:
        assert s.alpha_bars[0] > 0.95


def test_schedules_match_their_papers_at_1000_steps():
    linear = NoiseSchedule("linear", 1000)
    assert math.isclose(linear.betas[0], 1e-4) and math.isclose(linear.betas[-1], 0.02)  # DDPM's betas
    assert 3e-5 < linear.alpha_bars[-1] < 5e-5
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):  # alpha_bars[t] is abar after t + 1 steps
        assert math.isclose(COSINE.alpha_bars[t], f(t + 1) / f(0), rel_tol=1e-9)
    assert COSINE.betas.max() == 0.999 and COSINE.alpha_bars[-1] < 1e-3


def test_bad_schedules_raise():
    with pytest.raises(ValueError, match="linear, cosine"):
        NoiseSchedule("quadratic")
    for steps in (1, 0, 2.5):
        with pytest.raises(ValueError, match="steps"):
            NoiseSchedule("cosine", steps)


def test_alpha_bar_and_snr_are_gathered_per_timestep():
    t = torch.tensor([0, 10, 999, 10])
    abar = COSINE.alpha_bar(t)
    assert abar.dtype == torch.float32 and abar.shape == (4,) and abar[1] == abar[3]
    assert torch.allclose(abar.double(), COSINE.alpha_bars[t])
    assert torch.allclose(COSINE.snr(t).double(), COSINE.alpha_bars[t] / (1 - COSINE.alpha_bars[t]), rtol=1e-6)


# ---- forward process and conversions ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_every_prediction_converts_back_to_x0_and_eps(kind, shape, prediction):
    schedule, g = NoiseSchedule(kind, 1000), torch.Generator().manual_seed(0)
    x0, eps = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    t = torch.randint(0, 1000, (shape[0],), generator=g)
    t[0], t[1] = 0, 999  # both ends of the schedule
    x_t = q_sample(x0, t, eps, schedule)
    got_x0, got_eps = to_x0_eps(training_target(x0, eps, t, schedule, prediction), x_t, t, schedule, prediction)
    assert torch.allclose(got_x0, x0, atol=1e-5) and torch.allclose(got_eps, eps, atol=1e-5)


def test_q_sample_uses_each_samples_own_timestep():
    x0, eps = torch.randn(SHAPES["video"]), torch.randn(SHAPES["video"])
    t = torch.tensor([5, 500, 990])
    x_t = q_sample(x0, t, eps, COSINE)
    for i in range(3):
        alone = q_sample(x0[i:i + 1], t[i:i + 1], eps[i:i + 1], COSINE)
        abar = float(COSINE.alpha_bars[t[i]])
        assert torch.allclose(x_t[i:i + 1], alone)
        assert torch.allclose(alone, math.sqrt(abar) * x0[i] + math.sqrt(1 - abar) * eps[i], atol=1e-5)
    v = v_target(x0, eps, t, COSINE)
    assert torch.allclose(v[2], math.sqrt(float(COSINE.alpha_bars[990])) * eps[2]
                          - math.sqrt(1 - float(COSINE.alpha_bars[990])) * x0[2], atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_q_sample_is_x0_at_the_start_and_noise_at_the_end(kind):
    schedule, g = NoiseSchedule(kind, 1000), torch.Generator().manual_seed(1)
    x0, eps = torch.randn(64, 3, 16, 16, generator=g), torch.randn(64, 3, 16, 16, generator=g)
    corr = lambda a, b: float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])  # noqa: E731
    start = q_sample(x0, torch.zeros(64, dtype=torch.long), eps, schedule)
    end = q_sample(x0, torch.full((64,), 999), eps, schedule)
    assert (start - x0).abs().mean() < 0.02 and corr(start, x0) > 0.999
    assert abs(corr(end, x0)) < 0.02 and corr(end, eps) > 0.999


# ---- loss ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_loss_is_zero_at_the_target_and_the_mse_otherwise(prediction):
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(SHAPES["video"], generator=g), torch.randn(SHAPES["video"], generator=g)
    t = sample_timesteps(3, COSINE, generator=g)
    target = training_target(x0, eps, t, COSINE, prediction)
    for gamma in (None, 5.0):
        assert diffusion_loss(target, x0, eps, t, COSINE, prediction, gamma) == 0
    off = target + torch.tensor([1.0, 2.0, 3.0]).reshape(3, 1, 1, 1, 1)  # per-sample MSE 1, 4, 9
    assert torch.isclose(diffusion_loss(off, x0, eps, t, COSINE, prediction), torch.tensor(14 / 3))
    w = min_snr_weight(t, COSINE, prediction, 5.0)
    assert torch.isclose(diffusion_loss(off, x0, eps, t, COSINE, prediction, 5.0), (w * torch.tensor([1, 4, 9])).mean())
    weight = torch.zeros(3, 1, *SHAPES["video"][2:])
    weight[..., :1, :, :] = 2.0  # the first frame's errors count twice, the others not at all
    frames = SHAPES["video"][2]
    assert torch.isclose(diffusion_loss(off, x0, eps, t, COSINE, prediction, pixel_weight=weight),
                         torch.tensor(2 / frames * 14 / 3))


def test_min_snr_weights_follow_hang_et_al():
    t = torch.arange(0, 1000, 37)
    snr = COSINE.snr(t)
    clipped = torch.minimum(snr, torch.tensor(5.0))
    assert torch.allclose(min_snr_weight(t, COSINE, "eps", 5.0), clipped / snr)
    assert torch.allclose(min_snr_weight(t, COSINE, "x0", 5.0), clipped)
    assert torch.allclose(min_snr_weight(t, COSINE, "v", 5.0), clipped / (snr + 1))
    assert torch.equal(min_snr_weight(t, COSINE, "eps", 1e12), torch.ones(len(t)))
    x0, eps = torch.randn(len(t), 3, 4, 4), torch.randn(len(t), 3, 4, 4)
    out = torch.randn(len(t), 3, 4, 4)
    assert diffusion_loss(out, x0, eps, t, COSINE, "eps", 1e12) == diffusion_loss(out, x0, eps, t, COSINE, "eps")


def test_min_snr_weights_give_one_loss_whatever_the_prediction():
    # the weights exist to put every prediction's MSE on the same eps-space footing
    g = torch.Generator().manual_seed(3)
    x0, eps = (torch.randn(8, 3, 4, 4, generator=g, dtype=torch.float64) for _ in range(2))
    t = torch.tensor([0, 3, 40, 200, 500, 800, 950, 999])
    x_t = q_sample(x0, t, eps, COSINE)
    abar = _per_sample(COSINE.alpha_bar(t, torch.float64), x_t)
    x0_hat = x0 + 0.1 * torch.randn(x0.shape, generator=g, dtype=torch.float64)  # an imperfect x_0 prediction
    eps_hat = (x_t - abar.sqrt() * x0_hat) / (1 - abar).sqrt()
    v_hat = abar.sqrt() * eps_hat - (1 - abar).sqrt() * x0_hat
    losses = [diffusion_loss(out, x0, eps, t, COSINE, p, min_snr_gamma=5.0)
              for out, p in ((eps_hat, "eps"), (x0_hat, "x0"), (v_hat, "v"))]
    assert torch.allclose(losses[0], losses[1], rtol=1e-5) and torch.allclose(losses[0], losses[2], rtol=1e-5)


def test_sample_timesteps_cover_the_schedule_reproducibly():
    s = NoiseSchedule("linear", 10)
    t = sample_timesteps(2000, s, generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.shape == (2000,) and set(t.tolist()) == set(range(10))
    assert torch.equal(t, sample_timesteps(2000, s, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(t, sample_timesteps(2000, s, generator=torch.Generator().manual_seed(1)))


def test_drop_condition_drops_a_fraction_p_reproducibly():
    drop = drop_condition(40_000, 0.25, generator=torch.Generator().manual_seed(0))
    assert drop.dtype == torch.bool and drop.shape == (40_000,) and abs(drop.float().mean() - 0.25) < 0.01
    assert torch.equal(drop, drop_condition(40_000, 0.25, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(drop, drop_condition(40_000, 0.25, generator=torch.Generator().manual_seed(1)))
    assert not drop_condition(100, 0.0).any() and drop_condition(100, 1.0).all()
    with pytest.raises(ValueError):
        drop_condition(10, 1.5)


# ---- guidance and clipping -----------------------------------------------------------------------


class ToyConditional:
    """Nonlinear in the condition and reading two extra inputs: an fps (B,) and a low-res image to concatenate."""

    def __init__(self):
        self.batches, self.drops = [], []
        self.w = torch.randn(6, generator=torch.Generator().manual_seed(4))

    def __call__(self, x, t, cond, drop=None, fps=None, low_res=None, mode=None):
        assert mode == "concat"  # non-tensor extras pass through untouched
        self.batches.append(x.shape[0])
        self.drops.append(drop)
        c = cond if drop is None else torch.where(drop[:, None], torch.zeros_like(cond), cond)  # null: zeros
        h = torch.cat([x, low_res], dim=1)  # (B, 6, H, W)
        gain = torch.tanh(c @ self.w)[:, None, None, None]
        return h[:, :3] * gain + h[:, 3:] * fps[:, None, None, None] + t[:, None, None, None] / 1000


@pytest.fixture
def cfg_inputs():
    g = torch.Generator().manual_seed(5)
    x, low_res = torch.randn(3, 3, 4, 4, generator=g), torch.randn(3, 3, 4, 4, generator=g)
    extra = {"fps": torch.tensor([2.0, 8.0, 24.0]), "low_res": low_res, "mode": "concat"}
    return x, torch.tensor([10, 500, 900]), torch.randn(3, 6, generator=g), extra


def test_guidance_scale_one_is_the_conditional_model(cfg_inputs):
    x, t, cond, extra = cfg_inputs
    model = ToyConditional()
    guided = classifier_free_guidance(model, cond, 1.0, **extra)(x, t)
    assert model.batches == [3] and model.drops == [None]  # one forward, no null condition
    assert torch.equal(guided, model(x, t, cond=cond, drop=None, **extra))


@pytest.mark.parametrize("scale", [0.0, 3.0, 7.5])
def test_guidance_is_uncond_plus_scale_times_the_difference(cfg_inputs, scale):
    x, t, cond, extra = cfg_inputs
    model = ToyConditional()
    guided = classifier_free_guidance(model, cond, scale, **extra)(x, t)
    assert model.batches == [6]  # one batched forward of 2B
    assert model.drops[0].tolist() == [False] * 3 + [True] * 3
    c = model(x, t, cond=cond, drop=torch.zeros(3, dtype=torch.bool), **extra)
    u = model(x, t, cond=cond, drop=torch.ones(3, dtype=torch.bool), **extra)
    assert not torch.allclose(c, u)
    assert torch.allclose(guided, u + scale * (c - u), atol=1e-6)


def test_clip_x0_modes():
    g = torch.Generator().manual_seed(6)
    inside = torch.rand(1, 3, 8, 8, generator=g) * 1.8 - 0.9
    outside = torch.randn(1, 3, 8, 8, generator=g) * 3
    x0 = torch.cat([inside, outside])
    assert clip_x0(x0, None) is x0
    assert torch.equal(clip_x0(x0, "static"), x0.clamp(-1, 1))
    dynamic = clip_x0(x0, "dynamic", percentile=0.9)
    assert torch.equal(dynamic[0], x0[0])  # in range: untouched
    assert dynamic[1].abs().max() == 1
    s = np.quantile(outside.abs().numpy(), 0.9)
    kept = outside.abs() <= s  # pixels under the threshold keep their relative values, scaled by 1/s
    assert torch.allclose(dynamic[1:][kept], outside[kept] / float(s), atol=1e-6)
    with pytest.raises(ValueError, match="None, static, dynamic"):
        clip_x0(x0, "soft")


# ---- samplers ------------------------------------------------------------------------------------


def test_respaced_timesteps():
    assert respaced_timesteps(COSINE, 1000) == list(range(999, -1, -1))
    assert respaced_timesteps(COSINE, 1) == [999]
    for steps in (2, 5, 10, 33):
        ts = respaced_timesteps(COSINE, steps)
        gaps = -np.diff(ts)
        assert len(ts) == steps and ts[0] == 999 and ts[-1] == 0 and all(isinstance(t, int) for t in ts)
        assert (gaps > 0).all() and gaps.max() - gaps.min() <= 1  # descending, evenly spaced
    for bad in (0, 1001):
        with pytest.raises(ValueError):
            respaced_timesteps(COSINE, bad)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddim_with_a_perfect_model_walks_the_noising_path(prediction):
    # if the model is exact, DDIM (eta = 0) keeps the noise fixed: x_prev = q_sample(x_0, t_prev, eps)
    g = torch.Generator().manual_seed(7)
    x_data = torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    model_fn = oracle(x_data, COSINE, prediction)
    for t, t_prev in ((700, 400), (400, 399), (50, 0)):
        x_t = q_sample(x_data, torch.full((2,), t), eps, COSINE)
        x_prev = ddim_step(model_fn, x_t, t, t_prev, COSINE, prediction, clip=None)
        assert torch.allclose(x_prev, q_sample(x_data, torch.full((2,), t_prev), eps, COSINE), atol=1e-8)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("steps", [5, 10])
def test_few_step_ddim_returns_the_data_not_noise(prediction, steps):
    x_data = torch.rand(2, 3, 4, 6, 6, generator=torch.Generator().manual_seed(8)) * 2 - 1  # videos
    x = sample(oracle(x_data, COSINE, prediction), x_data.shape, COSINE, steps, prediction=prediction, progress=False)
    assert x.shape == x_data.shape and (x - x_data).abs().max() < 1e-3


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_one_step_ddim_returns_the_data_for_x0_and_v(prediction):
    # not eps: at t = T-1, x_0 = (x_t - s eps) / a with a ~ 5e-5 amplifies float32 rounding ~1e4 times
    x_data = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(8)) * 2 - 1
    x = sample(oracle(x_data, COSINE, prediction), x_data.shape, COSINE, 1, prediction=prediction, progress=False)
    assert (x - x_data).abs().max() < 1e-3


def test_a_start_part_way_noises_the_guess_and_takes_only_the_steps_below():
    x_data = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(3)) * 2 - 1
    guess = (x_data + 0.3 * torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(4))).clamp(-1, 1)
    seen = []

    def counting(x, t):
        seen.append(int(t[0]))
        return oracle(x_data, COSINE, "v")(x, t)

    x = sample(counting, x_data.shape, COSINE, 10, init=guess, strength=0.5, progress=False)
    assert seen == [500] + [t for t in respaced_timesteps(COSINE, 10) if t < 500]  # t_s = round(0.5 * 999)
    assert (x - x_data).abs().max() < 1e-3  # a perfect model still lands on the data
    # at the first timestep the guess comes back within the noise of one step, whatever the model says
    near = sample(toy_model, x_data.shape, COSINE, 10, init=guess, strength=1 / 999, progress=False)
    assert (near - guess).abs().max() < 0.05
    for bad in (dict(strength=0.5), dict(init=guess), dict(init=guess, strength=0.0),
                dict(init=guess, strength=0.5, x_T=guess)):
        with pytest.raises(ValueError, match="strength"):
            sample(toy_model, x_data.shape, COSINE, 10, progress=False, **bad)
    with pytest.raises(ValueError, match="init has shape"):
        sample(toy_model, (1, 3, 4, 4), COSINE, 10, init=guess, strength=0.5, progress=False)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddpm_with_a_perfect_model_returns_the_data(prediction):
    schedule = NoiseSchedule("linear", 100)
    x_data = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(9)) * 2 - 1
    x = sample(oracle(x_data, schedule, prediction), x_data.shape, schedule, sampler="ddpm", prediction=prediction,
               progress=False)
    assert (x - x_data).abs().max() < 1e-3


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_constrain_steers_every_predicted_x0_and_the_sample_lands_on_it(sampler):
    """A model that always predicts the data, constrained to the data's mirror image: the sample is the mirror."""
    schedule = NoiseSchedule("linear", 50)
    x_data = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(10)) * 2 - 1
    seen = []

    def constrain(x0):
        seen.append(x0)
        return -x0

    x = sample(oracle(x_data, schedule, "x0"), x_data.shape, schedule, 10 if sampler == "ddim" else None,
               sampler=sampler, prediction="x0", progress=False, constrain=constrain)
    assert (x + x_data).abs().max() < 1e-5 and len(seen) == (10 if sampler == "ddim" else 50)
    assert all(torch.equal(x0, x_data) for x0 in seen)  # after clipping, before the constraint


def test_last_ddpm_step_returns_the_predicted_x0_and_draws_nothing():
    x_t, g = torch.randn(2, 3, 4, 4), torch.Generator().manual_seed(13)
    state = g.get_state()
    x = ddpm_step(lambda x, t: 0.5 * x, x_t, 0, COSINE, "x0", g, clip=None)
    assert torch.allclose(x, 0.5 * x_t) and torch.equal(g.get_state(), state)
    assert not torch.equal(ddpm_step(lambda x, t: 0.5 * x, x_t, 1, COSINE, "x0", g, clip=None), x)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("clip", [None, "static"])
def test_ddim_eta_one_over_every_step_is_ddpm(prediction, clip):
    schedule = NoiseSchedule("cosine", 100)
    model_fn = lambda x, t: toy_model(x, t, 100)  # noqa: E731
    x_T = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    g_ddpm, g_ddim = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    x_ddpm = x_ddim = x_T
    worst = 0.0
    for t in range(99, -1, -1):
        x_ddpm = ddpm_step(model_fn, x_ddpm, t, schedule, prediction, g_ddpm, clip)
        x_ddim = ddim_step(model_fn, x_ddim, t, t - 1, schedule, prediction, 1.0, g_ddim, clip)
        worst = max(worst, float((x_ddpm - x_ddim).abs().max()))
    assert worst < 1e-5
    via_sample = [sample(model_fn, None, schedule, sampler=s, steps=100, prediction=prediction, eta=1.0, seed=11,
                         clip=clip, progress=False, x_T=x_T) for s in ("ddpm", "ddim")]
    assert torch.allclose(via_sample[0], x_ddpm) and torch.allclose(via_sample[1], x_ddpm, atol=1e-5)


def test_ddim_eta_zero_is_deterministic_and_draws_no_randomness():
    x_T = torch.randn(2, 3, 8, 8)
    g = torch.Generator().manual_seed(12)
    state = g.get_state()
    a = sample(toy_model, x_T.shape, COSINE, 10, x_T=x_T, progress=False)
    b = sample(toy_model, x_T.shape, COSINE, 10, x_T=x_T, generator=g, progress=False)
    assert torch.equal(a, b) and torch.equal(g.get_state(), state)


@pytest.mark.parametrize("sampler, steps, eta", [("ddim", 10, 0.0), ("ddim", 10, 1.0), ("ddpm", None, 0.0)])
def test_same_seed_same_sample_other_seed_other_sample(sampler, steps, eta):
    schedule = NoiseSchedule("cosine", 50)
    def run(**kw):
        return sample(toy_model, (2, 3, 8, 8), schedule, steps, sampler, eta=eta, progress=False, **kw)
    a = run(seed=1)
    assert torch.equal(a, run(seed=1)) and torch.equal(a, run(generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(a, run(seed=2))
    assert torch.equal(run(), run(seed=0))  # no seed: seed 0, still reproducible


def test_sample_progress_bar(capsys):
    sample(toy_model, (1, 3, 4, 4), COSINE, 5, progress=True)
    assert "ddim 5 steps" in capsys.readouterr().err
    sample(toy_model, (1, 3, 4, 4), COSINE, 5, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_arguments_raise_with_the_valid_choices():
    x, t = torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long)
    calls = [lambda: training_target(x, x, t, COSINE, "score"), lambda: to_x0_eps(x, x, t, COSINE, "score"),
             lambda: diffusion_loss(x, x, x, t, COSINE, "score"), lambda: min_snr_weight(t, COSINE, "score", 5.0),
             lambda: ddpm_step(toy_model, x, 5, COSINE, "score"),
             lambda: ddim_step(toy_model, x, 5, 0, COSINE, "score"),
             lambda: sample(toy_model, x.shape, COSINE, 5, prediction="score", progress=False)]
    for call in calls:
        with pytest.raises(ValueError, match="eps, x0, v"):
            call()
    with pytest.raises(ValueError, match="ddpm, ddim"):
        sample(toy_model, x.shape, COSINE, 5, sampler="euler", progress=False)
    with pytest.raises(ValueError, match="every one"):
        sample(toy_model, x.shape, COSINE, 5, sampler="ddpm", progress=False)
    with pytest.raises(ValueError, match="t_prev"):
        ddim_step(toy_model, x, 5, 5, COSINE, "v")
