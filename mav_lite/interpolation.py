"""Masked frame interpolation upF (notebook 08): D^t that fills in the frames it is not given.

The paper's upF is D^t fine-tuned with 4 extra input channels: the video with its unknown frames
zeroed (3) and a binary mask saying which frames are known (1). Those inputs' weights start at
zero (`from_video_decoder`), so before training upF is exactly D^t. It learns on unlabeled clips
with every kind of mask (`MASK_KINDS`):

- "interpolate": every k-th frame known (k = 2..6, from a random offset): raising the frame rate;
- "forward": the first frame only (animate an image); "backward": the last frame only;
- "ends": first and last (join two images); "keyframes": a random few; "none": no frame (D^t's
  own job, so variation without keyframes works).

Like D^t it is conditioned on a CLIP image embedding and on fps, here the fps of the clip it
outputs. The embedding is y_e = C_y(the given frame nearest the middle; the middle frame when none
is given, as for D^t): in training and in every mode alike, so upF never sees a hidden frame's
embedding in training that it could not have when generating. `upsample_frames` raises a base clip
of T frames at f fps to (T - 1) * k + 1 frames at k * f, filling windows of the preset's `window`
frames that begin and end on given frames, all windows in one batch; the given frames are pasted
back at the end (the model redraws them within its noise: `benchmarks/interpolation.py` reports how
close). It starts from `linear_blend` of the given frames noised to a share `blend_start` of the
schedule (the preset's; 1.0: from pure noise, the paper): this SDEdit start keeps the blend's still
pixels and layout, and upF redraws the rest, thinning the blend's two ghosts of a moving object (README,
"Frame interpolation").

Option `clean_given` (on by default; README, "Frame interpolation"): the given frames also replace
the noisy clip in the input, clean, and on them the output is the one that denoises to them exactly
(`given_frames_model`), so upF reads them through D^t's trained input weights instead of only
through the 4 new channels that start at zero, and the loss is the hidden frames' alone. With it,
1,500 steps on 2 cores gain 6-10 dB over the paper's input alone. upF trains with the plain v-loss
(min_snr_gamma None): min-SNR weights would give the noisiest timesteps, where the given frames
matter most, almost no weight.

    mav-lite train interpolation --preset cpu --out runs/interpolation
    video = upsample_frames(upf, clip, base, skip=4, fps=8, window=9, seed=0, blend_start=0.1)  # (B, 3, 29, H, W)
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat

from . import diffusion
from .clip import frozen_clip
from .config import Preset
from .data import ClipStream, ShapesWorld
from .decoder import SCHEDULE, conditioned_loss, image_embedding
from .metrics import clip_frames
from .pseudo3d import VideoUNet
from .train import Stage, register_stage
from .video_decoder import OPTIONS as VIDEO_OPTIONS
from .video_decoder import fps_per_clip, load_parent

OPTIONS = {k: v for k, v in VIDEO_OPTIONS.items() if k not in ("decoder", "start", "train", "curriculum")} | {
    "video_decoder": None, "clean_given": True, "min_snr_gamma": None}
MASK_KINDS = ("interpolate", "forward", "backward", "ends", "keyframes", "none")
SKIPS = (2, 3, 4, 5, 6)
EXTRA_CHANNELS = 4  # masked RGB video + the mask


def frame_mask(kind: str, frames: int, skip: int = 2, offset: int = 0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """(frames,) bool, True where the frame is given, for one kind of MASK_KINDS.

    skip, offset: "interpolate" gives frames offset, offset + skip, ...; generator: "keyframes"
    picks each frame with probability 1/3 (at least one)."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; kinds: {', '.join(MASK_KINDS)}")
    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got {frames}")
    index = torch.arange(frames)
    if kind == "interpolate":
        if skip < 1 or not 0 <= offset < skip:
            raise ValueError(f"skip must be >= 1 and 0 <= offset < skip, got skip={skip}, offset={offset}")
        return (index - offset) % skip == 0
    if kind == "keyframes":
        mask = torch.rand(frames, generator=generator) < 1 / 3
        mask[torch.randint(frames, (1,), generator=generator)] = True
        return mask
    given = {"forward": [0], "backward": [frames - 1], "ends": [0, frames - 1], "none": []}[kind]
    return torch.isin(index, torch.tensor(given, dtype=torch.long))


def random_masks(batch: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """(batch, frames) bool: a random kind per clip, as upF trains (skip and offset random too; a
    skip shorter than the clip, so that "interpolate" gives at least two frames)."""
    skips = [k for k in SKIPS if k < frames] or [1]
    masks = []
    for _ in range(batch):
        kind = MASK_KINDS[int(torch.randint(len(MASK_KINDS), (1,), generator=generator))]
        skip = skips[int(torch.randint(len(skips), (1,), generator=generator))]
        offset = int(torch.randint(skip, (1,), generator=generator))
        masks.append(frame_mask(kind, frames, skip, offset, generator))
    return torch.stack(masks)


def masked_input(videos: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) videos and (B, T) known frames -> upF's 4 extra channels (B, 4, T, H, W):
    the known frames (unknown ones zeroed) and the mask."""
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise ValueError(f"expected videos (B, 3, T, H, W), got shape {tuple(videos.shape)}")
    if known.shape != (videos.shape[0], videos.shape[2]):
        raise ValueError(f"expected a mask of shape {(videos.shape[0], videos.shape[2])}, got {tuple(known.shape)}")
    mask = repeat(known.to(videos.dtype), "b t -> b 1 t h w", h=videos.shape[3], w=videos.shape[4])
    return torch.cat([torch.where(mask.bool(), videos, 0.0), mask], dim=1)  # nothing of an unknown frame leaks


def given_frames_model(upf: VideoUNet, clean_given: bool, prediction: str = "v", timesteps: int = 1000):
    """upF as the loss and the samplers call it: model(x_t, t, cond, drop, fps, concat), with concat
    = masked_input(the given frames, known) made once per clip.

    The given frames always enter through the 4 extra channels (the paper). clean_given: they also
    take the noisy clip's place in the input, clean, and on them the output is the one that denoises
    x_t to them exactly, so the loss is the hidden frames' alone and the sampler ends on the given frames."""
    if not clean_given:
        return upf
    schedule = diffusion.schedule_for(SCHEDULE, timesteps)

    def model(x_t, t, cond=None, drop=None, fps=None, concat=None):
        given, mask = concat[:, :3], concat[:, 3:] > 0.5  # (B, 3, T, H, W) and (B, 1, T, H, W)
        out = upf(torch.where(mask, given, x_t), t, cond=cond, drop=drop, fps=fps, concat=concat)
        abar = schedule.alpha_bar(t).view(-1, 1, 1, 1, 1)
        noise = (x_t.float() - abar.sqrt() * given) / (1 - abar).sqrt()  # the eps that made x_t from the given frame
        exact = diffusion.training_target(given.float(), noise, t, schedule, prediction)
        return torch.where(mask, exact, out.float())

    return model


def conditioning_index(known: torch.Tensor) -> torch.Tensor:
    """(B, T) known frames -> (B,) the frame whose C_y embedding conditions upF: the given frame
    nearest the middle (the earlier one on a tie), or the middle frame when none is given."""
    frames = known.shape[1]
    distance = (torch.arange(frames, device=known.device) - frames // 2).abs().float()  # (T,)
    distance = torch.where(known, distance, distance + frames)  # any given frame beats every hidden one
    return distance.argmin(dim=1)  # argmin takes the first of equals: the earlier frame


def conditioning_embedding(clip, videos: torch.Tensor, known: torch.Tensor, upf) -> torch.Tensor:
    """(B, 3, T, H, W) clips and (B, T) known frames -> y_e (B, D) = C_y(frame `conditioning_index`)
    (or its map, for a map-conditioned upF)."""
    index = conditioning_index(known).to(videos.device)
    return image_embedding(clip, videos[torch.arange(len(videos), device=videos.device), :, index], upf)


def from_video_decoder(video_decoder: VideoUNet) -> VideoUNet:
    """D^t -> upF: the same network with 4 more input channels whose weights are zero, so that
    upF(x, concat=anything) == D^t(x) until it trains."""
    if video_decoder.config["extra_channels"]:
        raise ValueError("this network already takes extra input channels: is it upF already?")
    upf = VideoUNet(**{**video_decoder.config, "extra_channels": EXTRA_CHANNELS})
    source = next(video_decoder.parameters())
    upf.to(source.device, source.dtype).train(video_decoder.training)
    state = dict(video_decoder.state_dict())
    stem = state["stem.weight"]  # (C, 3, 3, 3): the new input channels' weights are zeros
    state["stem.weight"] = torch.cat([stem, stem.new_zeros(stem.shape[0], EXTRA_CHANNELS, *stem.shape[2:])], dim=1)
    upf.load_state_dict(state)
    return upf


@torch.no_grad()
def sample(upf: VideoUNet, y_e: torch.Tensor, videos: torch.Tensor, known: torch.Tensor, fps=8,
           guidance: float = 2.0, steps: int = 25, seed=None, generator: torch.Generator | None = None,
           prediction: str = "v", timesteps: int = 1000, progress: bool = False,
           clean_given: bool = True, init: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
    """Fill in clips: videos (B, 3, T, H, W) whose frames where known (B, T) is True are given
    (the others are ignored) -> (B, 3, T, H, W) in [-1, 1], every frame drawn by upF (paste the
    given ones back with `keep_known`). init, strength: start from the guess `init` (B, 3, T, H, W)
    noised part-way (diffusion.sample)."""
    if y_e.ndim != 2 or y_e.shape != (len(videos), upf.config["cond_dim"]):
        raise ValueError(f"expected image embeddings of shape ({len(videos)}, {upf.config['cond_dim']}), "
                         f"got {tuple(y_e.shape)}")
    device = next(upf.parameters()).device
    fps = fps_per_clip(fps, len(videos), device)
    model_fn = diffusion.classifier_free_guidance(given_frames_model(upf, clean_given, prediction, timesteps),
                                                  y_e.to(device), guidance, fps=fps,
                                                  concat=masked_input(videos.to(device), known.to(device)))
    return diffusion.sample(model_fn, tuple(videos.shape), diffusion.schedule_for(SCHEDULE, timesteps), steps=steps,
                            prediction=prediction, generator=generator,
                            seed=None if generator is not None else seed, device=device, progress=progress,
                            init=init, strength=strength)


def keep_known(generated: torch.Tensor, videos: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The generated clips with the given frames put back exactly."""
    return torch.where(known.to(generated.device)[:, None, :, None, None], videos.to(generated.device), generated)


def linear_blend(videos: torch.Tensor, skip: int) -> torch.Tensor:
    """Clips (B, 3, T, H, W) -> (B, 3, (T - 1) * skip + 1, H, W): frame i is frame i * skip, and the
    frames between are the linear mix of the two given frames around them (a moving object shows as two
    ghosts, one fading out, one fading in)."""
    frames = (videos.shape[2] - 1) * skip + 1
    i = torch.arange(frames, device=videos.device)
    before, share = i // skip, (i % skip).to(videos.dtype) / skip  # the given frame before each, and how far past it
    after = (before + 1).clamp(max=videos.shape[2] - 1)
    share = share[None, None, :, None, None]
    return (1 - share) * videos[:, :, before] + share * videos[:, :, after]


def windows(frames: int, skip: int, window: int) -> tuple[list[int], int]:
    """The windows that fill an upsampled clip of `frames` frames: (their starts, their length).
    Each spans (window - 1) // skip gaps between given frames (at least one) and begins and ends
    on given frames; the last one is moved back to end on the last frame."""
    length = min(max(1, (window - 1) // skip) * skip + 1, frames)
    starts = list(range(0, frames - length + 1, max(1, length - 1)))
    if starts[-1] != frames - length:
        starts.append(frames - length)
    return starts, length


@torch.no_grad()
def upsample_frames(upf: VideoUNet, clip, videos: torch.Tensor, skip: int, fps: float, window: int,
                    guidance: float = 2.0, steps: int = 25, seed=None, generator: torch.Generator | None = None,
                    prediction: str = "v", timesteps: int = 1000, progress: bool = False,
                    keep_given: bool = True, clean_given: bool = True, blend_start: float = 1.0) -> torch.Tensor:
    """Base clips (B, 3, T, H, W) at `fps` (one number) -> (B, 3, (T - 1) * skip + 1, H, W) at
    fps * skip; `clip` is the CLIP-lite whose C_y gives each window its embedding.

    Frame i of the base is frame i * skip of the result and is kept exactly (keep_given=False: as
    upF redrew it); upF fills the rest in windows (see `windows`), all in one batch; where windows
    overlap the earlier one's frames stay. blend_start: the share of the noise schedule at which upF
    starts from the linear blend (1.0: from pure noise)."""
    if videos.ndim != 5 or videos.shape[1] != 3:
        raise ValueError(f"expected base clips (B, 3, T, H, W), got shape {tuple(videos.shape)}")
    if skip < 1 or videos.shape[2] < 2:
        raise ValueError(f"need skip >= 1 and at least 2 frames, got skip={skip} and {videos.shape[2]} frames")
    if not 0 < blend_start <= 1:
        raise ValueError(f"blend_start is how far up the noise schedule upF starts from the blend, in (0, 1] "
                         f"(1: from pure noise); got {blend_start}")
    b, _, t, h, w = videos.shape
    frames = (t - 1) * skip + 1
    starts, length = windows(frames, skip, window)
    if length > upf.config["max_frames"]:
        raise ValueError(f"a window of {length} frames is longer than upF's {upf.config['max_frames']}")
    canvas = videos.new_zeros(b, 3, frames, h, w)
    canvas[:, :, ::skip] = videos
    known = torch.zeros(b, frames, dtype=torch.bool, device=videos.device)
    known[:, ::skip] = True
    pieces = torch.cat([canvas[:, :, s:s + length] for s in starts])  # (n b) 3 L h w, window-major
    piece_known = torch.cat([known[:, s:s + length] for s in starts])
    y_e = conditioning_embedding(clip, pieces, piece_known, upf)
    guess = None  # from pure noise; else from the linear blend, cut into the same windows
    if blend_start < 1:
        blend = linear_blend(videos, skip)
        guess = torch.cat([blend[:, :, s:s + length] for s in starts])
    filled = sample(upf, y_e, pieces, piece_known, float(fps) * skip, guidance, steps, seed, generator, prediction,
                    timesteps, progress, clean_given, guess, blend_start)
    filled = rearrange(filled, "(n b) c l h w -> n b c l h w", n=len(starts))
    out, done = canvas.clone(), torch.zeros(frames, dtype=torch.bool)
    for piece, s in zip(filled, starts):
        new = ~done[s:s + length]
        out[:, :, s:s + length][:, :, new] = piece[:, :, new].to(out.dtype)
        done[s:s + length] = True
    return keep_known(out, canvas, known) if keep_given else out


def build(preset: Preset, options: dict) -> VideoUNet:
    return from_video_decoder(load_parent("video_decoder", preset, options, VIDEO_OPTIONS, "upF"))


def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
           samples: int) -> ClipStream:
    w = preset.world
    return ClipStream(ShapesWorld(size=w.image_size, seed=data_seed), batch_size, preset.interpolation.window,
                      w.fps_range, position)


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    """The diffusion loss of unlabeled clips with random frames given, conditioned on fps and on y_e
    of the given frame nearest the middle (`conditioning_index`)."""
    videos, fps = batch
    device = generator.device
    x0 = videos.to(device)
    mask_seed = int(torch.randint(2 ** 62, (1,), generator=generator, device=device))  # masks drawn on the CPU
    known = random_masks(len(x0), x0.shape[2], torch.Generator().manual_seed(mask_seed)).to(device)
    with torch.no_grad():
        y_e = conditioning_embedding(frozen_clip(options["clip"], str(device)), x0, known, model)
    upf = given_frames_model(model, options["clean_given"], options["prediction"], options["timesteps"])
    return conditioned_loss(upf, x0, y_e, generator, options, fps=fps.to(device), concat=masked_input(x0, known))


def sample_grid(model, n: int, seed: int, preset: Preset, options: dict) -> torch.Tensor:
    """The trainer's sample grid: validation clips with every `frame_skip`-th frame given, filled by upF."""
    w, s = preset.world, preset.interpolation
    clips = max(1, n // s.window)
    videos, _ = ShapesWorld(size=w.image_size, seed=1).videos(range(clips), s.window, w.fps)
    device = next(model.parameters()).device
    videos = videos.to(device)
    known = frame_mask("interpolate", s.window, s.frame_skip).expand(clips, -1).to(device)
    y_e = conditioning_embedding(frozen_clip(options["clip"], str(device)), videos, known, model)
    out = sample(model, y_e, videos, known, w.fps, s.guidance, s.sample_steps, seed=seed,
                 prediction=options["prediction"], timesteps=options["timesteps"], clean_given=options["clean_given"])
    return clip_frames(out)


register_stage(Stage(
    name="interpolation",
    description="upF: D^t fine-tuned to fill in masked frames (interpolation, extrapolation; notebook 08)",
    sizes=lambda p: p.interpolation,
    build=build,
    stream=stream,
    loss=loss,
    sample=sample_grid,
    rebuild=lambda config: VideoUNet(**config),
    options=OPTIONS,
))
