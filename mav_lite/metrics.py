"""Metrics on generated images and clips: notebooks 02, 05, 07 and 13.

- `background_fraction`: the share of pixels that belong to a clean background (notebook 02).
  Shapes World scenes are mostly background, a flat or vertically graded colour, so in real data
  nearly every row is dominated by one colour; a diffusion model that has not learned to finish
  its job leaves grainy noise there. A pixel counts as background when it is within `tolerance`
  of its row's median colour.
- `attribute_accuracy`: what the attribute oracle (oracle.py) reads in generated images, against
  what their prompts ask for: colour, shape, position and size words for one object; for two
  objects, binding (both there, each colour on the right shape).
- `fid_lite`: the Frechet distance between Gaussians fitted to the oracle's penultimate features
  of two image sets (FID, Heusel et al. 2017, with the oracle in place of Inception). It depends on
  the sample count, so compare numbers at the same count, next to the real-vs-real floor.
- `fvd_lite`: the same distance on the motion oracle's features of clips (video_oracle.py), FVD
  (Unterthiner et al. 2018) with our motion oracle in place of I3D: it sees motion, not just frames.
- `temporal_consistency`: per clip, whether the oracle reads the same objects in every frame.
- `motion_per_frame`, `plausible_motion`: the foreground's centre tracked through a clip: how far
  it moves per frame (to compare fps), and whether it moves like a thing (no jumps, no morphing).
- `clipsim_lite`: the mean CLIP-lite cosine between each image and its prompt (CLIPSIM of the
  paper, with our CLIP); read it next to the same number for real renders of the same prompts.
- `psnr`, `ssim`: how close a frame is to the true one (upF's hidden frames, SR's outputs), in
  dB over all pixels or a mask, and in structural similarity (Wang et al. 2004).
- `edge_sharpness`, `flicker`: how crisp a picture's edges are against the true picture's (on the
  truth's edge pixels, so noise elsewhere does not count as detail), and how much the fine detail
  of a clip changes from frame to frame where the scene itself does not (SR_h's shared noise,
  notebook 09).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange

from .data import parse_caption


def _check_images(images: torch.Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")


def _check_videos(videos: torch.Tensor) -> None:
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {tuple(videos.shape)}")


def clip_frames(videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B T, 3, H, W): every frame as an image, the frames of a clip adjacent."""
    return rearrange(videos, "b c t h w -> (b t) c h w")


def background_mask(images: torch.Tensor, tolerance: float = 0.08) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W) True where a pixel is within `tolerance` of its row's median colour."""
    _check_images(images)
    row_median = images.median(dim=3, keepdim=True).values  # (B, 3, H, 1): the background of each row
    return (images - row_median).abs().amax(dim=1) <= tolerance  # every channel close


def background_fraction(images: torch.Tensor, tolerance: float = 0.08) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B,) share of pixels within `tolerance` of their row's median colour."""
    return background_mask(images, tolerance).float().mean(dim=(1, 2))


def centroid_track(videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, T, H, W) -> the centre of the foreground (pixels off the background) in every frame,
    (B, T, 2) as (x, y) in image widths (NaN in an empty frame), and its area (B, T) as a share of the frame."""
    _check_videos(videos)
    b, _, frames, height, width = videos.shape
    mask = (~background_mask(clip_frames(videos))).float().view(b, frames, height, width)
    area = mask.sum(dim=(2, 3))
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / width
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    centre = torch.stack([(mask * xs).sum(dim=(2, 3)), (mask * ys[:, None]).sum(dim=(2, 3))], dim=-1) / area[..., None]
    return centre, area / (height * width)


def motion_per_frame(videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B,) how far the foreground's centre moves between frames, on average (image widths)."""
    centre, _ = centroid_track(videos)
    return (centre[:, 1:] - centre[:, :-1]).norm(dim=-1).nanmean(dim=1)


def plausible_motion(oracle, videos: torch.Tensor, jump: float = 3.0) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B,) bool: motion a physical object could make. The oracle reads the same
    objects in every frame (nothing appears, vanishes or turns into another shape or colour), the
    foreground never doubles or halves from one frame to the next, and its centre never jumps:
    no step longer than `jump` times the clip's median step and a tenth of the frame."""
    centre, area = centroid_track(videos)
    steps = (centre[:, 1:] - centre[:, :-1]).norm(dim=-1)  # (B, T-1)
    smooth = (steps <= torch.clamp(jump * steps.nanmedian(dim=1, keepdim=True).values, min=0.1)).all(dim=1)
    ratio = area[:, 1:] / area[:, :-1].clamp(min=1e-6)
    steady = ((ratio >= 0.5) & (ratio <= 2)).all(dim=1) & (area > 0).all(dim=1)
    return temporal_consistency(oracle, videos) & smooth & steady


def prompt_hits(reading: dict, prompt: str) -> dict[str, bool]:
    """Which of the prompt's requests the oracle's reading of one image fulfils.

    One object: "color", "shape", "color+shape", and "position", "size" when the prompt names them.
    Two objects: "binding" (two objects, and the set of (colour, shape) pairs is the prompt's), and
    what binding needs, each on its own: "colors" and "shapes" (two objects, with the prompt's two
    colours, or its two shapes, whichever object has which).
    Both: "count" (as many objects as the prompt names).
    """
    wanted = parse_caption(prompt)["objects"]
    count = {"count": reading["count"] == len(wanted)}
    if len(wanted) == 2:
        two, seen = count["count"], reading["objects"]
        both = {f"{key}s": two and sorted(o[key] for o in seen) == sorted(o[key] for o in wanted)
                for key in ("color", "shape")}  # "colors", "shapes"
        pairs = {(o["color"], o["shape"]) for o in wanted}
        return {"binding": two and {(o["color"], o["shape"]) for o in seen} == pairs, **both, **count}
    if len(wanted) != 1:
        raise ValueError(f"a prompt must name one or two objects to be judged, got {len(wanted)}: {prompt!r}")
    w, seen = wanted[0], reading["objects"][0]
    hits = {"color": seen["color"] == w.get("color"), "shape": seen["shape"] == w.get("shape")}
    hits["color+shape"] = hits["color"] and hits["shape"]
    hits |= count
    for key in ("position", "size"):
        if key in w:
            hits[key] = seen[key] == w[key]
    return hits


def attribute_accuracy(oracle, images: torch.Tensor, prompts: list[str]) -> dict[str, float]:
    """The share of images whose oracle reading fulfils each kind of request of their prompt
    (see `prompt_hits`); "n_<kind>" says how many images each share is over."""
    _check_images(images)
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    tally: dict[str, list[bool]] = {}
    for reading, prompt in zip(oracle.read(images), prompts):
        for key, hit in prompt_hits(reading, prompt).items():
            tally.setdefault(key, []).append(hit)
    return {k: sum(v) / len(v) for k, v in tally.items()} | {f"n_{k}": len(v) for k, v in tally.items()}


def _sqrtm_trace(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """trace(sqrtm(a @ b)) for symmetric PSD a, b: the eigenvalues of sqrt(a) b sqrt(a) are those of a b."""
    vals, vecs = torch.linalg.eigh(a)
    root_a = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
    return torch.linalg.eigvalsh(root_a @ b @ root_a).clamp(min=0).sqrt().sum()


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, F), in float64:
    |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2))."""
    if min(len(real), len(fake)) < 2:
        raise ValueError("a Frechet distance needs at least 2 samples in each set")
    (mu_r, s_r), (mu_f, s_f) = ((f.double().mean(0), torch.cov(f.double().T)) for f in (real, fake))
    return float((mu_r - mu_f).square().sum() + s_r.trace() + s_f.trace() - 2 * _sqrtm_trace(s_r, s_f))


@torch.no_grad()
def _features(model, inputs: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([model.features(inputs[i:i + batch]) for i in range(0, len(inputs), batch)])


def fid_lite(oracle, real: torch.Tensor, fake: torch.Tensor, batch: int = 256) -> float:
    """Frechet distance between the oracle features of two image sets (lower is closer)."""
    _check_images(real), _check_images(fake)
    return frechet_distance(_features(oracle, real, batch), _features(oracle, fake, batch))


def fvd_lite(video_oracle, real: torch.Tensor, fake: torch.Tensor, batch: int = 64) -> float:
    """Frechet distance between the motion oracle's features of two clip sets (B, 3, T, H, W):
    FVD with our motion oracle in place of I3D. Compare numbers at the same clip count and length."""
    for videos in (real, fake):
        _check_videos(videos)
    return frechet_distance(_features(video_oracle, real, batch), _features(video_oracle, fake, batch))


def temporal_consistency(oracle, videos: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B,) bool: the oracle reads the same objects (count and colour-shape
    pairs) in every frame: nothing appears, vanishes or turns into another shape or colour."""
    _check_videos(videos)
    frames = videos.shape[2]
    readings = oracle.read(clip_frames(videos))
    pairs = [(r["count"], tuple(sorted((o["color"], o["shape"]) for o in r["objects"]))) for r in readings]
    return torch.tensor([len(set(pairs[i * frames:(i + 1) * frames])) == 1 for i in range(len(videos))])


@torch.no_grad()
def clipsim_lite(clip, images: torch.Tensor, prompts: list[str]) -> float:
    """Mean cosine between CLIP-lite's embedding of each image and of its prompt."""
    _check_images(images)
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    return float((clip.encode_image(images) * clip.encode_text(prompts)).sum(dim=1).mean())


def psnr(images: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] against the truth -> (B,) peak signal-to-noise ratio in dB,
    10 log10(2^2 / MSE), over every pixel or only where mask (B, H, W) is True (NaN if none is)."""
    _check_images(images), _check_images(truth)
    if images.shape != truth.shape:
        raise ValueError(f"images {tuple(images.shape)} and truth {tuple(truth.shape)} differ in shape")
    error = (images.float() - truth.float()).square().mean(dim=1)  # (B, H, W)
    if mask is not None and mask.shape != error.shape:
        raise ValueError(f"expected a mask of shape {tuple(error.shape)}, got {tuple(mask.shape)}")
    weight = torch.ones_like(error) if mask is None else mask.float()
    mse = (error * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))
    return 10 * torch.log10(4 / mse.clamp(min=1e-10))


def ssim(images: torch.Tensor, truth: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] against the truth -> (B,) SSIM, the mean over channels and over
    `window`-pixel Gaussian windows of
    (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))."""
    _check_images(images), _check_images(truth)
    if images.shape != truth.shape:
        raise ValueError(f"images {tuple(images.shape)} and truth {tuple(truth.shape)} differ in shape")
    if min(images.shape[-2:]) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window} pixels, got {tuple(images.shape[-2:])}")
    x, y = images.float(), truth.float()
    g = torch.exp(-(torch.arange(window, dtype=torch.float32, device=x.device) - (window - 1) / 2).square()
                  / (2 * sigma ** 2))
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, window, window)  # one per channel

    def blur(z):
        return F.conv2d(z, kernel, groups=3)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x ** 2, blur(y * y) - mu_y ** 2, blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2  # data range 2
    score = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return score.mean(dim=(1, 2, 3))


def high_pass(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> the detail a 3x3 box blur removes: images - blur(images)."""
    _check_images(images)
    return images.float() - F.avg_pool2d(F.pad(images.float(), (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def _gradient(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, H-1, W-1) gradient magnitude (forward differences, summed over channels)."""
    x = images.float()
    dx, dy = x[..., :-1, 1:] - x[..., :-1, :-1], x[..., 1:, :-1] - x[..., :-1, :-1]
    return (dx.square() + dy.square()).sum(dim=1).sqrt()


def edge_sharpness(images: torch.Tensor, truth: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """(B, 3, H, W) against the truth -> (B,) the mean gradient magnitude on the truth's edge pixels
    (gradient above `threshold`), as a share of the truth's there: 1 is as crisp as the truth, a
    blurred edge less. Noise and ringing away from edges do not count. NaN where the truth has no edge."""
    _check_images(images), _check_images(truth)
    if images.shape != truth.shape:
        raise ValueError(f"images {tuple(images.shape)} and truth {tuple(truth.shape)} differ in shape")
    edges = _gradient(truth)
    mask = (edges > threshold).float()
    return (_gradient(images) * mask).sum(dim=(1, 2)) / (edges * mask).sum(dim=(1, 2))


def flicker(videos: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) clips and (B, T - 1, H, W) masks of pixels where the scene does not change
    between frames t and t + 1 (evaluation.static_mask) -> (B,) mean |change of the high-pass
    detail| over those pixels (NaN for a clip without any)."""
    _check_videos(videos)
    b, _, frames, h, w = videos.shape
    if static.shape != (b, frames - 1, h, w):
        raise ValueError(f"expected a static mask of shape {(b, frames - 1, h, w)}, got {tuple(static.shape)}")
    detail = rearrange(high_pass(clip_frames(videos)), "(b t) c h w -> b t c h w", b=b)
    change = (detail[:, 1:] - detail[:, :-1]).abs().mean(dim=2)  # (B, T-1, H, W)
    weight = static.float()
    return (change * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))
