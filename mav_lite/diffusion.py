"""Diffusion from scratch: the noise schedule, training targets and samplers of every stage.

Every network of the chain (P, D, D^t, upF, SR_l^t, SR_h) is a denoising diffusion model and this is
the core they share (notebook 02, diffusion from scratch, builds it line by line). It works on any
shape with the batch first: images (B, 3, H, W), videos (B, 3, T, H, W), embeddings (B, D).

    schedule = NoiseSchedule("cosine", steps=1000)
    t, noise = sample_timesteps(B, schedule), torch.randn_like(x0)
    loss = diffusion_loss(model(q_sample(x0, t, noise, schedule), t), x0, noise, t, schedule, "v")
    x = sample(model, (B, 3, 32, 32), schedule, steps=50, seed=0)

Papers: DDPM (Ho et al. 2020) for q_sample and p_sample (`ddpm_step`); DDIM (Song et al. 2021) for
few-step sampling; v-prediction (Salimans & Ho 2022); classifier-free guidance (Ho & Salimans 2022);
dynamic thresholding (Saharia et al. 2022, Imagen); min-SNR loss weighting (Hang et al. 2023).
Make-A-Video does not say which schedule, prediction or sampler it uses; the defaults here (cosine
schedule, v-prediction, DDIM) are our choice: v stays well scaled at both ends of the schedule,
which few-step sampling on a CPU needs. Notation: abar_t = alpha_bar_t = prod_{s<=t} alpha_s.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

PREDICTIONS = ("eps", "x0", "v")
SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
CLIP_MODES = (None, "static", "dynamic")


def _check(name: str, value, valid: tuple) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(str, valid))}")


# ---- the forward process q(x_t | x_0) ---------------------------------------------------------


class NoiseSchedule:
    """betas, alphas = 1 - betas and alpha_bars = cumprod(alphas) for t = 0 .. steps-1 (float64).

    "linear": DDPM's betas, 1e-4 .. 0.02 over 1000 steps, scaled by 1000/steps so that fewer steps
    destroy the signal as much (Nichol & Dhariwal 2021); "cosine": abar_t = f(t)/f(0) with
    f(t) = cos^2((t/T + s)/(1 + s) pi/2), s = 0.008, which wastes fewer steps on pure noise at
    small resolutions (Nichol & Dhariwal 2021). Betas are clipped at 0.999 for both.
    """

    def __init__(self, kind: str = "cosine", steps: int = 1000):
        _check("schedule", kind, SCHEDULES)
        if int(steps) != steps or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        self.kind, self.steps = kind, int(steps)
        if kind == "linear":
            scale = 1000 / self.steps
            betas = torch.linspace(scale * 1e-4, scale * 0.02, self.steps, dtype=torch.float64)
        else:
            s = 0.008
            t = torch.arange(self.steps + 1, dtype=torch.float64)
            f = torch.cos((t / self.steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = 1 - f[1:] / f[:-1]  # beta_t = 1 - abar_t / abar_{t-1}
        # beta = 1 would erase x_t completely (cosine's last step; linear's tail below 20 steps exceeds 1)
        self.betas = betas.clamp(max=0.999)
        self.alphas = 1 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)  # abar_t = prod_{s<=t} alpha_s

    def __repr__(self) -> str:
        return f"NoiseSchedule(kind={self.kind!r}, steps={self.steps})"

    def alpha_bar(self, t: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """abar_t at integer timesteps t (B,), on t's device."""
        return self.alpha_bars.to(dtype).to(t.device)[t]

    def snr(self, t: Tensor) -> Tensor:
        """Signal-to-noise ratio SNR(t) = abar_t / (1 - abar_t), float32 (computed in float64)."""
        return (self.alpha_bars / (1 - self.alpha_bars)).float().to(t.device)[t]


@cache
def schedule_for(kind: str = "cosine", steps: int = 1000) -> NoiseSchedule:
    """One shared NoiseSchedule per (kind, steps): the stages build theirs from their options."""
    return NoiseSchedule(kind, steps)


def _abar(schedule: NoiseSchedule, t: Tensor, x: Tensor) -> Tensor:
    """abar_t as (B, 1, ..., 1) in x's dtype: one coefficient per sample, broadcast over x's trailing dims."""
    return schedule.alpha_bar(t, x.dtype).reshape(-1, *[1] * (x.ndim - 1))


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Jump straight to step t of the forward process (DDPM eq. 4)."""
    abar = _abar(schedule, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise  # x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps


def v_target(x0: Tensor, noise: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """The velocity of Salimans & Ho (2022): well scaled at t ~ 0 (where eps is) and t ~ T (where x_0 is)."""
    abar = _abar(schedule, t, x0)
    return abar.sqrt() * noise - (1 - abar).sqrt() * x0  # v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0


def training_target(x0: Tensor, noise: Tensor, t: Tensor, schedule: NoiseSchedule, prediction: str) -> Tensor:
    """What the network learns to output: the noise eps, the clean x_0, or v."""
    _check("prediction", prediction, PREDICTIONS)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    return v_target(x0, noise, t, schedule)


def to_x0_eps(output: Tensor, x_t: Tensor, t: Tensor, schedule: NoiseSchedule,
              prediction: str) -> tuple[Tensor, Tensor]:
    """Read a network output as (x_0, eps): exact, since x_t = a x_0 + s eps ties the two together."""
    _check("prediction", prediction, PREDICTIONS)
    abar = _abar(schedule, t, x_t)
    a, s = abar.sqrt(), (1 - abar).sqrt()  # Salimans & Ho's alpha_t and sigma_t, a^2 + s^2 = 1
    if prediction == "eps":
        return (x_t - s * output) / a, output  # x_0 = (x_t - s eps) / a
    if prediction == "x0":
        return output, (x_t - a * output) / s  # eps = (x_t - a x_0) / s
    return a * x_t - s * output, s * x_t + a * output  # x_0 = a x_t - s v, eps = s x_t + a v


# ---- training ---------------------------------------------------------------------------------


def min_snr_weight(t: Tensor, schedule: NoiseSchedule, prediction: str, gamma: float) -> Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023), (B,) float32.

    All three weight the same eps-space loss by min(SNR, gamma) / SNR, so that the nearly clean
    steps (huge SNR) stop dominating; since ||dx_0||^2 = ||deps||^2 / SNR and
    ||dv||^2 = ||deps||^2 (SNR + 1) / SNR, each prediction's own MSE gets its own factor.
    """
    _check("prediction", prediction, PREDICTIONS)
    snr = schedule.snr(t)
    clipped = snr.clamp(max=gamma)  # min(SNR, gamma)
    return {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1)}[prediction]


def diffusion_loss(output: Tensor, x0: Tensor, noise: Tensor, t: Tensor, schedule: NoiseSchedule,
                   prediction: str = "v", min_snr_gamma: float | None = None,
                   pixel_weight: Tensor | None = None) -> Tensor:
    """MSE between the output and its target (DDPM's L_simple), averaged per sample then over the batch;
    pixel_weight (broadcast to the output, e.g. (B, 1, H, W)) weights each pixel's error first."""
    target = training_target(x0, noise, t, schedule, prediction)
    error = (output - target) ** 2
    per_sample = (error if pixel_weight is None else error * pixel_weight).flatten(1).mean(1)  # (B,)
    if min_snr_gamma is not None:
        per_sample = per_sample * min_snr_weight(t, schedule, prediction, min_snr_gamma).to(per_sample.dtype)
    return per_sample.mean()


def sample_timesteps(batch: int, schedule: NoiseSchedule, generator: torch.Generator | None = None,
                     device=None) -> Tensor:
    """t ~ Uniform{0, ..., steps - 1}, one per sample (DDPM Algorithm 1), as a LongTensor (B,)."""
    # draw on the generator's own device (a CPU generator cannot draw on CUDA), then move
    t = torch.randint(0, schedule.steps, (batch,), generator=generator,
                      device=generator.device if generator is not None else device)
    return t if device is None else t.to(device)


def drop_condition(batch: int, p: float, generator: torch.Generator | None = None, device=None) -> Tensor:
    """True where a sample trains with the null condition, with probability p (Ho & Salimans 2022).

    One network then learns both eps(x_t, c) and eps(x_t) = eps(x_t, null), which guidance combines.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    drop = torch.rand(batch, generator=generator, device=generator.device if generator is not None else device) < p
    return drop if device is None else drop.to(device)


# ---- sampling ---------------------------------------------------------------------------------


def _twice(value, batch: int):
    """A tensor with a batch dim, stacked for the [conditional; unconditional] batch; anything else as is."""
    if torch.is_tensor(value) and value.ndim > 0 and value.shape[0] == batch:
        return torch.cat([value, value])
    return value


def classifier_free_guidance(model: Callable, cond, scale: float, **extra) -> Callable[[Tensor, Tensor], Tensor]:
    """model_fn(x, t) for the samplers: out = out(x, null) + scale (out(x, c) - out(x, null)).

    Ho & Salimans (2022, eq. 6) write (1 + w) eps(z, c) - w eps(z); scale = 1 + w, so scale 1 is the
    plain conditional model (one forward) and scale 0 the unconditional one. The two weights sum to 1,
    so guiding an eps, x_0 or v output gives the same result. `model` is called as
    model(x, t, cond=cond, drop=drop, **extra), drop (B,) bool, True meaning "use the null condition".
    """
    if scale == 1:
        return lambda x, t: model(x, t, cond=cond, drop=None, **extra)

    def guided(x: Tensor, t: Tensor) -> Tensor:
        b = x.shape[0]
        drop = torch.arange(2 * b, device=x.device) >= b  # [False] * B (conditional) + [True] * B (null)
        out = model(_twice(x, b), _twice(t, b), cond=_twice(cond, b), drop=drop,
                    **{k: _twice(v, b) for k, v in extra.items()})  # one forward of 2B
        cond_out, uncond_out = out.chunk(2)
        return uncond_out + scale * (cond_out - uncond_out)

    return guided


def clip_x0(x0: Tensor, mode: str | None = "static", percentile: float = 0.995) -> Tensor:
    """Keep the predicted x_0 in the data range [-1, 1] while sampling.

    "static" clamps. "dynamic" (Imagen, Saharia et al. 2022): s = the `percentile` quantile of |x_0|
    per sample; if s > 1, clamp to [-s, s] and divide by s, so that strongly guided samples are
    pulled back in range instead of saturating at +-1.
    """
    _check("clip mode", mode, CLIP_MODES)
    if mode is None:
        return x0
    if mode == "static":
        return x0.clamp(-1, 1)
    if not 0 < percentile <= 1:
        raise ValueError(f"percentile must be in (0, 1], got {percentile}")
    s = torch.quantile(x0.abs().flatten(1), percentile, dim=1).clamp(min=1)  # s = max(quantile(|x_0|), 1), (B,)
    s = s.reshape(-1, *[1] * (x0.ndim - 1))
    return x0.clamp(-s, s) / s


def _predict_x0(model_fn: Callable, x_t: Tensor, t: int, schedule: NoiseSchedule, prediction: str, clip,
                constrain: Callable | None = None) -> Tensor:
    """Run the model at integer step t and read its output as a clipped (then constrained) x_0."""
    _check("prediction", prediction, PREDICTIONS)
    if not 0 <= t < schedule.steps:
        raise ValueError(f"t must be in [0, {schedule.steps}), got {t}")
    t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
    x0 = clip_x0(to_x0_eps(model_fn(x_t, t_batch), x_t, t_batch, schedule, prediction)[0], clip)
    return x0 if constrain is None else constrain(x0)


def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def ddpm_step(model_fn: Callable, x_t: Tensor, t: int, schedule: NoiseSchedule, prediction: str,
              generator: torch.Generator | None = None, clip: str | None = "static",
              constrain: Callable | None = None) -> Tensor:
    """p_sample: x_{t-1} ~ q(x_{t-1} | x_t, x_0 = the predicted x_0) (DDPM eq. 6-7)."""
    x0 = _predict_x0(model_fn, x_t, t, schedule, prediction, clip, constrain)
    beta, alpha, abar = (float(v[t]) for v in (schedule.betas, schedule.alphas, schedule.alpha_bars))
    abar_prev = float(schedule.alpha_bars[t - 1]) if t > 0 else 1.0
    # mu~_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    mean = math.sqrt(abar_prev) * beta / (1 - abar) * x0 + math.sqrt(alpha) * (1 - abar_prev) / (1 - abar) * x_t
    if t == 0:
        return mean  # = x_0: the last step adds no noise
    variance = (1 - abar_prev) / (1 - abar) * beta  # beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
    return mean + math.sqrt(variance) * _randn_like(x_t, generator)


def ddim_step(model_fn: Callable, x_t: Tensor, t: int, t_prev: int, schedule: NoiseSchedule, prediction: str,
              eta: float = 0.0, generator: torch.Generator | None = None, clip: str | None = "static",
              constrain: Callable | None = None) -> Tensor:
    """One DDIM step from t down to t_prev (Song et al. 2021, eq. 12); t_prev = -1 lands on x_0.

    eta = 0 is deterministic; eta = 1 with t_prev = t - 1 is exactly DDPM's p_sample.
    """
    if not -1 <= t_prev < t:
        raise ValueError(f"t_prev must be in [-1, t={t}), got {t_prev}")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    x0 = _predict_x0(model_fn, x_t, t, schedule, prediction, clip, constrain)
    abar = float(schedule.alpha_bars[t])
    abar_prev = float(schedule.alpha_bars[t_prev]) if t_prev >= 0 else 1.0
    eps = (x_t - math.sqrt(abar) * x0) / math.sqrt(1 - abar)  # the eps that goes with the clipped x_0
    # sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)   (eq. 16)
    sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar)) * math.sqrt(1 - abar / abar_prev)
    # x_prev = sqrt(abar_prev) x_0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z; max(): eta > 1 or rounding
    x_prev = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma**2, 0.0)) * eps
    if sigma > 0:  # so eta = 0 never moves the generator
        x_prev = x_prev + sigma * _randn_like(x_t, generator)
    return x_prev


def respaced_timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """`steps` timesteps evenly spread from T-1 down to 0, for DDIM (Song et al. 2021, sec. 4.2).

    One step is [T-1]: a single jump from pure noise to the predicted x_0.
    """
    if int(steps) != steps or not 1 <= steps <= schedule.steps:
        raise ValueError(f"steps must be an integer in [1, {schedule.steps}], got {steps!r}")
    if steps == 1:
        return [schedule.steps - 1]
    last, n = schedule.steps - 1, int(steps) - 1
    return [(2 * last * k + n) // (2 * n) for k in range(n, -1, -1)]  # round(last * k / n), in exact integers


@torch.no_grad()
def sample(model_fn: Callable, shape, schedule: NoiseSchedule, steps: int | None = None, sampler: str = "ddim",
           prediction: str = "v", eta: float = 0.0, generator: torch.Generator | None = None, seed: int | None = None,
           clip: str | None = "static", device=None, progress: bool = True, x_T: Tensor | None = None,
           constrain: Callable | None = None, init: Tensor | None = None, strength: float = 1.0) -> Tensor:
    """Generate: x_T ~ N(0, I), then denoise with DDPM (every step) or DDIM (`steps` respaced steps).

    model_fn(x, t) gets t as a LongTensor (B,); wrap a conditional model in classifier_free_guidance
    first. All randomness comes from `generator` (on `device`), else from
    torch.Generator(device).manual_seed(seed), with seed 0 when neither is given: the same call gives
    the same sample. x_T: start from this noise instead of drawing it (e.g. SR_h's noise shared by frames).
    steps: None runs every step of the schedule; eta: DDIM only. constrain: applied to every predicted
    x_0 after clipping (SR's consistency with its low-resolution input); the step then goes on from it.
    init, strength (SDEdit, Meng et al. 2022): start from the guess `init` of x_0 noised to timestep
    t_s = round(strength * (T - 1)) instead of from pure noise, and take only the steps below t_s; a small
    strength keeps the guess's layout and redraws its details.
    """
    _check("sampler", sampler, SAMPLERS)
    _check("prediction", prediction, PREDICTIONS)
    if generator is not None and seed is not None:
        raise ValueError("give a generator or a seed, not both")
    device = torch.device(device or (x_T.device if x_T is not None else "cpu"))
    if generator is None:
        generator = torch.Generator(device).manual_seed(0 if seed is None else seed)
    if not 0 < strength <= 1 or (init is None) != (strength == 1) or (init is not None and x_T is not None):
        raise ValueError(f"a start part-way (strength < 1) needs a guess `init` and no x_T, and a guess needs "
                         f"strength in (0, 1); got strength={strength}, init {'given' if init is not None else 'none'}")
    if init is not None:
        if shape is not None and tuple(shape) != tuple(init.shape):
            raise ValueError(f"init has shape {tuple(init.shape)}, expected {tuple(shape)}")
        start = round(strength * (schedule.steps - 1))
        noise = torch.randn(tuple(init.shape), generator=generator, device=device)
        x = q_sample(init.to(device), torch.full((len(init),), start, device=device), noise, schedule)
    elif x_T is None:
        x = torch.randn(tuple(shape), generator=generator, device=device)
    elif shape is not None and tuple(shape) != tuple(x_T.shape):
        raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
    else:
        x = x_T.to(device)
    if sampler == "ddpm":
        if steps not in (None, schedule.steps):
            raise ValueError(f"ddpm runs every one of the {schedule.steps} steps; use sampler='ddim' for {steps}")
        timesteps = list(range(schedule.steps - 1, -1, -1))
    else:
        timesteps = respaced_timesteps(schedule, schedule.steps if steps is None else steps)
    if init is not None:
        timesteps = [start] + [t for t in timesteps if t < start]
    pairs = list(zip(timesteps, timesteps[1:] + [-1]))  # (t, t_prev), ending at t_prev = -1: x_0
    for t, t_prev in tqdm(pairs, desc=f"{sampler} {len(pairs)} steps", disable=not progress):
        if sampler == "ddpm":
            x = ddpm_step(model_fn, x, t, schedule, prediction, generator, clip, constrain)
        else:
            x = ddim_step(model_fn, x, t, t_prev, schedule, prediction, eta, generator, clip, constrain)
    return x
