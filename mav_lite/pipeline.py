"""MakeAVideoLite: the chain of trained stages behind one object (notebooks 05, 10-12).

    from mav_lite import MakeAVideoLite
    pipe = MakeAVideoLite.from_pretrained()                    # reference weights from data/checkpoints
    images = pipe.text_to_image(["a red circle", "a blue star at the top left"], seed=0)  # (B, 3, H, W)

    out = pipe.text_to_video("a red circle", seed=0, fps=8)   # out.video (3, T, H, W); out.save("clip.gif")

text_to_image is the image half of Make-A-Video: prompt -> C_x -> x_e -> P -> y_e -> D -> image
(y_e: CLIP-lite's image embedding, or C_y's 4x4 map for stages trained with `embedding="map"`).
text_to_video swaps D for D^t (notebook 07): prompt -> C_x -> P -> y_e -> D^t -> base clip at `fps`,
then upF (notebook 08) raises its frame rate `skip` times: T frames -> (T - 1) * skip + 1.
The text only reaches P: motion comes from what D^t learned on unlabeled video, so motion words in
a prompt are read by CLIP-lite but cannot steer the motion (a limitation the paper states too).
upF's masks give the other modes: image_to_video (the image is the first frame and, through C_y,
the condition), interpolate (two images are the first and last frames), variation (a clip's
embedding, new noise) and upsample_frames. Images may be paths, PIL images, numpy arrays or
tensors of any size and mode (images.py). Step counts and guidance scales default to the preset
the stages were trained with. precision="auto" samples in bf16 autocast where the hardware computes
in it natively (a GPU, a CPU with bf16 instructions: 1.7x faster on one) and in fp32 elsewhere (on an
AVX2-only CPU bf16 was ~35x slower); "fp32" or "bf16" force one. compile=True (CUDA only) compiles
every denoiser for CUDA graphs: at these sizes a GPU mostly waits on Python and kernel launches.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import decoder as decoder_lib
from . import interpolation as upf_lib
from . import prior as prior_lib
from . import superres as sr_lib
from . import video_decoder as video_lib
from .checkpoints import REFERENCE_DIR, CheckpointError, load_model
from .config import get_preset
from .images import as_image
from .system import native_bf16, synchronize

STAGE_ORDER = ("D^t", "upF", "SR_l^t", "SR_h")  # text_to_video's stages, in order: stop_after picks the last
# the checkpoint stage behind each, and the keyword its training options go by
VIDEO_STAGES = {"D^t": ("video_decoder", "video_options"), "upF": ("interpolation", "interpolation_options"),
                "SR_l^t": ("sr_low", "sr_low_options"), "SR_h": ("sr_high", "sr_high_options")}


@dataclass
class VideoOutput:
    """What text_to_video returns: the clips of every stage run, and how they were made."""

    videos: torch.Tensor  # (B, 3, T, H, W) in [-1, 1], the last stage's
    stages: dict[str, torch.Tensor]  # stage name ("D^t", ...) -> its clips
    prompts: list[str]
    seed: int | None
    fps: float
    seconds: dict[str, float] = field(default_factory=dict)  # per stage

    @property
    def video(self) -> torch.Tensor:
        """The first prompt's clip (3, T, H, W)."""
        return self.videos[0]

    def timings(self) -> str:
        """Seconds per stage as one line: "P 0.1 s, D^t 2.5 s, ..."."""
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())

    def save(self, path, index: int = 0) -> Path:
        """Write one clip as .mp4 (H.264) or .gif, at the clip's fps."""
        from .viz import save_video

        return save_video(self.videos[index], path, fps=self.fps)

    def show(self) -> None:
        """Play every clip in the notebook, titled with its prompt."""
        from .viz import show_videos

        show_videos(self.videos, self.prompts, fps=self.fps)


PRECISIONS = ("auto", "fp32", "bf16")
COMPILED = ("prior", "decoder", "video_decoder", "interpolation", "sr_low", "sr_high")  # what compile=True compiles


def compile_for_cuda_graphs(model: torch.nn.Module) -> None:
    """Compile `model`'s forward in place with torch.compile's mode "reduce-overhead" (CUDA graphs:
    a recorded graph replays every kernel in one launch, with no Python in between). A graph's
    output lives in memory that its next replay overwrites, so each call marks a new step and
    returns a copy. The first call of each input shape compiles (about a minute)."""
    compiled = torch.compile(model.forward, mode="reduce-overhead")

    def forward(*args, **kwargs):
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(*args, **kwargs).clone()

    model.forward = forward


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def _in_precision(method):
    """Run a generation method under the pipeline's precision (bf16 autocast or fp32); outputs stay fp32."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        _check_precision(self.precision)  # it may have been set since __init__
        bf16 = self.precision == "bf16" or (self.precision == "auto" and native_bf16(self.device))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            return method(self, *args, **kwargs)
    return run


class MakeAVideoLite:
    """The trained stages (C_x/C_y, P, D, D^t, upF, SR_l^t, SR_h) and the generation modes built from them."""

    def __init__(self, clip, prior, decoder, preset: str = "cpu", prior_options: dict | None = None,
                 decoder_options: dict | None = None, video_decoder=None, video_options: dict | None = None,
                 interpolation=None, interpolation_options: dict | None = None, sr_low=None,
                 sr_low_options: dict | None = None, sr_high=None, sr_high_options: dict | None = None,
                 precision: str = "auto", compile: bool = False):
        _check_precision(precision)
        self.precision = precision  # "auto": bf16 where the hardware computes in it natively, else fp32
        self.clip, self.prior, self.decoder = clip.eval(), prior.eval(), decoder.eval()
        self.video_decoder = None if video_decoder is None else video_decoder.eval()
        self.video_options = {**video_lib.OPTIONS, **(video_options or {})}
        self.interpolation = None if interpolation is None else interpolation.eval()
        self.interpolation_options = {**upf_lib.OPTIONS, **(interpolation_options or {})}
        self.sr_low = None if sr_low is None else sr_low.eval()
        self.sr_low_options = {**sr_lib.VIDEO_OPTIONS, **(sr_low_options or {})}
        self.sr_high = None if sr_high is None else sr_high.eval()
        self.sr_high_options = {**sr_lib.OPTIONS, **(sr_high_options or {})}
        self.preset = get_preset(preset)
        self.prior_options = {**prior_lib.OPTIONS, **(prior_options or {})}
        self.decoder_options = {**decoder_lib.OPTIONS, **(decoder_options or {})}
        for name, model in (("the decoder", decoder), ("the video decoder D^t", video_decoder), ("upF", interpolation)):
            if model is None:
                continue
            made = clip.map_dim if model.config["cond_grid"] else clip.config["embed_dim"]
            if model.config["cond_dim"] != made:
                raise ValueError(f"{name} expects {model.config['cond_dim']}-d image embeddings but CLIP-lite "
                                 f"makes {made}-d ones: they were not trained together")
            if name != "upF" and prior.out_dim != model.config["cond_dim"]:  # upF reads frames, not P
                raise ValueError(f"the prior draws {prior.out_dim}-d image embeddings but {name} expects "
                                 f"{model.config['cond_dim']}-d ones: they were not trained together")
        if compile:
            if self.device.type != "cuda":
                raise ValueError(f"compile=True needs a CUDA GPU (it compiles for CUDA graphs), not {self.device}: "
                                 "on CPU torch.compile took ~90 s and gained nothing")
            for name in COMPILED:
                if getattr(self, name) is not None:
                    compile_for_cuda_graphs(getattr(self, name))

    @classmethod
    def from_folders(cls, clip: Path, prior: Path, decoder: Path, device=None, video_decoder: Path | None = None,
                     interpolation: Path | None = None, sr_low: Path | None = None,
                     sr_high: Path | None = None, precision: str = "auto", compile: bool = False) -> MakeAVideoLite:
        """A pipeline from checkpoint folders (run folders of `mav-lite train`, or reference ones)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        clip_model, _ = load_model(clip, "clip", device)
        prior_model, prior_card = load_model(prior, "prior", device)
        decoder_model, decoder_card = load_model(decoder, "decoder", device)
        folders = {"video_decoder": video_decoder, "interpolation": interpolation, "sr_low": sr_low, "sr_high": sr_high}
        stages = {}
        for stage, options_name in VIDEO_STAGES.values():
            if folders[stage] is None:
                continue
            model, card = load_model(folders[stage], stage, device)
            if stage == "interpolation":  # upF runs from before clean_given existed were trained without it
                card["identity"]["options"].setdefault("clean_given", False)
            if card["preset"] != decoder_card["preset"]:
                raise CheckpointError(f"{folders[stage]} was trained in preset {card['preset']!r} but {decoder} in "
                                      f"{decoder_card['preset']!r}: every stage must share the preset's sizes")
            stages |= {stage: model, options_name: card["identity"]["options"]}
        return cls(clip_model, prior_model, decoder_model, decoder_card["preset"], prior_card["identity"]["options"],
                   decoder_card["identity"]["options"], **stages, precision=precision, compile=compile)

    @classmethod
    def from_pretrained(cls, root: Path | None = None, device=None, precision: str = "auto",
                        compile: bool = False) -> MakeAVideoLite:
        """The reference weights in data/checkpoints (or another folder holding clip/, prior/, decoder/
        and, for video, any of video_decoder/, interpolation/, sr_low/ and sr_high/)."""
        root = Path(root or REFERENCE_DIR)
        found = {stage: root / stage for stage, _ in VIDEO_STAGES.values() if (root / stage).is_dir()}
        return cls.from_folders(root / "clip", root / "prior", root / "decoder", device, **found, precision=precision,
                                compile=compile)

    @property
    def device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    @property
    def image_size(self) -> int:
        return self.preset.world.image_size

    def _generator(self, seed) -> torch.Generator:
        if isinstance(seed, torch.Generator):
            return seed
        return torch.Generator(self.device).manual_seed(int(seed))

    @torch.no_grad()
    @_in_precision
    def image_embeddings(self, prompts, seed=0, steps: int | None = None, guidance: float | None = None,
                         progress: bool = True, strict: bool = True) -> torch.Tensor:
        """Prompts -> image embeddings (B, prior.out_dim) drawn by the prior P: y_e, or C_y's map for a
        map-conditioned chain."""
        p = self.preset.prior
        return prior_lib.sample(self.prior, self.clip, prompts, guidance=p.guidance if guidance is None else guidance,
                                steps=steps or p.sample_steps, generator=self._generator(seed),
                                timesteps=self.prior_options["timesteps"], progress=progress, strict=strict)

    @torch.no_grad()
    @_in_precision
    def text_to_image(self, prompts, seed=0, steps: int | None = None, guidance: float | None = None,
                      prior_steps: int | None = None, prior_guidance: float | None = None, candidates: int = 1,
                      progress: bool = True, strict: bool = True) -> torch.Tensor:
        """Prompts (a string or a list) -> images (B, 3, H, W) in [-1, 1].

        seed: an int or a torch.Generator; steps / guidance: the decoder's DDIM steps and guidance
        scale; prior_steps / prior_guidance: the prior's. candidates: draw that many images per
        prompt and keep the one CLIP-lite puts nearest its prompt (the cosine of C_y(image) and x_e:
        DALL-E's reranking), at that many times the cost. strict=False maps unknown words to [unk]
        with a warning instead of raising.
        """
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"candidates is how many images to draw per prompt, an int >= 1; got {candidates!r}")
        generator = self._generator(seed)
        if candidates == 1:
            y_e = self.image_embeddings(prompts, generator, prior_steps, prior_guidance, progress, strict)
            return self._decode(y_e, generator, steps, guidance, progress)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        y_e = self.image_embeddings(prompts * candidates, generator, prior_steps, prior_guidance, progress, strict)
        pool = self._decode(y_e, generator, steps, guidance, progress)  # candidate j of prompt b at j * B + b
        x_e = self.clip.encode_text(prompts, strict).repeat(candidates, 1)
        scores = (self.clip.encode_image(pool) * x_e).sum(dim=1).view(candidates, len(prompts))
        pool = pool.view(candidates, len(prompts), *pool.shape[1:])
        return pool[scores.argmax(dim=0), torch.arange(len(prompts), device=pool.device)]

    @torch.no_grad()
    @_in_precision
    def redraw_images(self, images: torch.Tensor, seed=0, steps: int | None = None, guidance: float | None = None,
                      progress: bool = True) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> D's drawing of each from its own image embedding, with no
        prior (DALL-E 2's image variations): the best D can do for a prompt whose render this is."""
        y_e = decoder_lib.image_embedding(self.clip, images.to(self.device), self.decoder)
        return self._decode(y_e, self._generator(seed), steps, guidance, progress)

    def _decode(self, y_e: torch.Tensor, generator: torch.Generator, steps: int | None, guidance: float | None,
                progress: bool) -> torch.Tensor:
        """Image embeddings -> D's images, with the preset's steps and guidance where none are given."""
        d = self.preset.decoder
        guidance = d.guidance if guidance is None else guidance
        return decoder_lib.sample(self.decoder, y_e, self.image_size, guidance=guidance,
                                  steps=steps or d.sample_steps, generator=generator,
                                  prediction=self.decoder_options["prediction"],
                                  timesteps=self.decoder_options["timesteps"], progress=progress)

    @torch.no_grad()
    @_in_precision
    def text_to_video(self, prompts, seed=0, fps: float | None = None, frames: int | None = None,
                      steps: int | None = None, guidance: float | None = None, prior_steps: int | None = None,
                      prior_guidance: float | None = None, skip: int | None = None, upf_steps: int | None = None,
                      upf_guidance: float | None = None, sr_steps: int | None = None, sr_aug: float = sr_lib.SAMPLE_AUG,
                      stop_after: str | None = None, progress: bool = True, strict: bool = True) -> VideoOutput:
        """Prompts (a string or a list) -> clips: C_x -> P -> y_e -> D^t (base clip at `fps`) -> upF -> SR_l^t -> SR_h.

        fps, frames: the base clip's, default the preset's; steps / guidance: D^t's DDIM steps and
        guidance scale; the prior's as in text_to_image; skip, upf_steps, upf_guidance: upF's
        frame-rate factor, DDIM steps and guidance (the preset's); sr_steps, sr_aug: the SR stages'
        DDIM steps (the preset's) and conditioning augmentation level; stop_after: the last stage to
        run (STAGE_ORDER; default: every stage the pipeline has). Returns a VideoOutput (.video,
        .videos, .stages, .seconds, .save(), .show()).
        """
        last = self._last_stage(stop_after)
        w, v = self.preset.world, self.preset.video
        fps = self._fps(fps)
        frames = int(w.frames if frames is None else frames)
        generator = self._generator(seed)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        start = self._clock()
        y_e = self.image_embeddings(prompts, generator, prior_steps, prior_guidance, progress, strict)
        seconds = {"P": self._clock() - start}
        start = self._clock()
        videos = video_lib.sample(self.video_decoder, y_e, frames, self.image_size, fps,
                                  guidance=v.guidance if guidance is None else guidance,
                                  steps=steps or v.sample_steps, generator=generator,
                                  prediction=self.video_options["prediction"],
                                  timesteps=self.video_options["timesteps"], progress=progress)
        seconds["D^t"] = self._clock() - start
        stages = {"D^t": videos}
        if STAGE_ORDER.index(last) >= STAGE_ORDER.index("upF"):
            start = self._clock()
            skip = self.preset.interpolation.frame_skip if skip is None else int(skip)
            stages["upF"] = self._upsample(videos, skip, fps, generator, progress, upf_steps, upf_guidance)
            seconds["upF"] = self._clock() - start
            fps *= skip
        self._super_resolve(stages, seconds, last, fps, generator, sr_steps, sr_aug, progress)
        return VideoOutput(stages[last], stages, prompts, seed if isinstance(seed, int) else None, fps, seconds)

    def _super_resolve(self, stages: dict, seconds: dict, last: str, fps: float, generator, steps: int | None,
                       aug: float, progress: bool) -> None:
        """Run SR_l^t then SR_h on the newest clips in `stages`, up to the stage `last`; adds their clips
        to `stages` and their times to `seconds`."""
        for name, sizes, options, extra in (("SR_l^t", self.preset.sr_low, self.sr_low_options,
                                             {"fps": fps, "chunk": self.preset.world.frames}),
                                            ("SR_h", self.preset.sr_high, self.sr_high_options,
                                             {"chunk": sr_lib.SR_H_CHUNK})):
            if STAGE_ORDER.index(last) < STAGE_ORDER.index(name):
                break
            start = self._clock()
            stages[name] = sr_lib.sample(self._model(name), list(stages.values())[-1], sizes.size_out, aug=aug,
                                         steps=steps or sizes.sample_steps, generator=generator,
                                         prediction=options["prediction"], timesteps=options["timesteps"],
                                         progress=progress, **extra)
            seconds[name] = self._clock() - start

    # upF's modes

    @torch.no_grad()
    @_in_precision
    def image_to_video(self, image, *, seed=0, frames: int | None = None, fps: float | None = None,
                       steps: int | None = None, guidance: float | None = None, stop_after: str | None = None,
                       sr_steps: int | None = None, sr_aug: float = sr_lib.SAMPLE_AUG,
                       progress: bool = True) -> VideoOutput:
        """One image -> a clip that starts with it: upF with only the first frame given, conditioned
        on the image's own C_y embedding, then SR_l^t and SR_h. frames: the clip's length (default
        upF's window); steps / guidance: upF's; stop_after, sr_steps, sr_aug: as in text_to_video."""
        first = self._image(image)
        return self._fill(first[None], [0], frames, fps, seed, steps, guidance, progress, "image to video",
                          chain=(stop_after, sr_steps, sr_aug))

    @torch.no_grad()
    @_in_precision
    def interpolate(self, first, last, *, seed=0, frames: int | None = None, fps: float | None = None,
                    steps: int | None = None, guidance: float | None = None, stop_after: str | None = None,
                    sr_steps: int | None = None, sr_aug: float = sr_lib.SAMPLE_AUG,
                    progress: bool = True) -> VideoOutput:
        """Two images -> a clip of `frames` frames (default upF's window) from the first to the last,
        conditioned on the first's C_y embedding (the given frame nearest the middle, as upF trained),
        then SR_l^t and SR_h (stop_after, sr_steps, sr_aug: as in text_to_video)."""
        pair = torch.stack([self._image(first), self._image(last)])
        frames = self.preset.interpolation.window if frames is None else int(frames)
        if frames < 2:
            limit = self._model("upF").config["max_frames"]
            raise ValueError(f"frames must be between 2 and upF's {limit}, got {frames}")
        return self._fill(pair, [0, frames - 1], frames, fps, seed, steps, guidance, progress, "interpolation",
                          chain=(stop_after, sr_steps, sr_aug))

    @torch.no_grad()
    @_in_precision
    def variation(self, video, *, seed=0, keep_every: int | None = None, fps: float | None = None,
                  steps: int | None = None, guidance: float | None = None, stop_after: str | None = None,
                  sr_steps: int | None = None, sr_aug: float = sr_lib.SAMPLE_AUG,
                  progress: bool = True) -> VideoOutput:
        """A clip (3, T, H, W) at the base size -> a new clip of the same length and new noise, from the
        embedding of its middle frame; keep_every=k keeps frames 0, k, 2k, ... of the original (None:
        none); then SR_l^t and SR_h (stop_after, sr_steps, sr_aug: as in text_to_video)."""
        video = self._video(video)
        t = video.shape[1]
        if keep_every is not None and not 2 <= keep_every <= t:
            raise ValueError(f"keep_every must be between 2 and the clip's {t} frames, got {keep_every}")
        given = [] if keep_every is None else list(range(0, t, keep_every))
        y_e = None if given else decoder_lib.image_embedding(
            self.clip, video_lib.conditioning_frame(video[None]).to(self.device), self._model("upF"))
        frames = video.transpose(0, 1)[given]  # (N, 3, H, W): the frames kept
        return self._fill(frames, given, t, fps, seed, steps, guidance, progress, "variation",
                          chain=(stop_after, sr_steps, sr_aug), y_e=y_e)

    @torch.no_grad()
    @_in_precision
    def upsample_frames(self, video, *, skip: int | None = None, fps: float | None = None, seed=0,
                        steps: int | None = None, guidance: float | None = None, blend_start: float | None = None,
                        progress: bool = True) -> VideoOutput:
        """A clip (3, T, H, W) at `fps` -> (3, (T - 1) * skip + 1, H, W) at fps * skip, its frames kept.
        blend_start: how far up the noise schedule upF starts from the linear blend (the preset's; 1.0:
        from pure noise, the paper)."""
        video = self._video(video)
        skip = self.preset.interpolation.frame_skip if skip is None else int(skip)
        fps = self._fps(fps)
        start = self._clock()
        out = self._upsample(video[None].to(self.device), skip, fps, self._generator(seed), progress, steps, guidance,
                             blend_start)
        return VideoOutput(out, {"upF": out}, ["upsampled"], seed if isinstance(seed, int) else None, fps * skip,
                           {"upF": self._clock() - start})

    def _upsample(self, videos, skip: int, fps: float, generator, progress: bool, steps: int | None = None,
                  guidance: float | None = None, blend_start: float | None = None) -> torch.Tensor:
        upf, s = self._model("upF"), self.preset.interpolation
        if skip < 1:
            raise ValueError(f"skip must be >= 1, got {skip}")
        guidance = s.guidance if guidance is None else guidance
        return upf_lib.upsample_frames(upf, self.clip, videos, skip, fps, s.window, guidance, steps or s.sample_steps,
                                       generator=generator, prediction=self.interpolation_options["prediction"],
                                       timesteps=self.interpolation_options["timesteps"], progress=progress,
                                       clean_given=self.interpolation_options["clean_given"],
                                       blend_start=s.blend_start if blend_start is None else blend_start)

    def _fill(self, given_frames, given: list[int], frames: int | None, fps, seed, steps, guidance, progress,
              mode: str, chain: tuple, y_e=None) -> VideoOutput:
        """upF draws a clip of `frames` frames in which frames `given` are `given_frames` (N, 3, H, W),
        conditioned on y_e or else on upF's rule (upf_lib.conditioning_index); then the SR stages, as
        chain = (stop_after, sr_steps, sr_aug) asks."""
        stop_after, sr_steps, sr_aug = chain
        last = self._last_stage(stop_after, first="upF")
        upf, s = self._model("upF"), self.preset.interpolation
        frames = s.window if frames is None else int(frames)
        if not max(given, default=0) < frames <= upf.config["max_frames"]:
            raise ValueError(f"frames must be between {max(given, default=0) + 1} and upF's "
                             f"{upf.config['max_frames']}, got {frames}")
        fps = self._fps(fps)
        canvas = torch.zeros(1, 3, frames, self.image_size, self.image_size, device=self.device)
        known = torch.zeros(1, frames, dtype=torch.bool, device=self.device)
        given_frames = given_frames.to(self.device)
        for k, f in enumerate(given):
            canvas[0, :, f], known[0, f] = given_frames[k], True
        if y_e is None:
            y_e = upf_lib.conditioning_embedding(self.clip, canvas, known, upf)
        start, generator = self._clock(), self._generator(seed)
        out = upf_lib.sample(upf, y_e, canvas, known, fps, s.guidance if guidance is None else guidance,
                             steps or s.sample_steps, generator=generator,
                             prediction=self.interpolation_options["prediction"],
                             timesteps=self.interpolation_options["timesteps"], progress=progress,
                             clean_given=self.interpolation_options["clean_given"])
        stages = {"upF": upf_lib.keep_known(out, canvas, known)}
        seconds = {"upF": self._clock() - start}
        self._super_resolve(stages, seconds, last, fps, generator, sr_steps, sr_aug, progress)
        return VideoOutput(stages[last], stages, [mode], seed if isinstance(seed, int) else None, fps, seconds)

    def _model(self, name: str):
        """The network of the chain's stage `name` (STAGE_ORDER), or a clear error saying how to get one."""
        stage, _ = VIDEO_STAGES[name]
        model = getattr(self, stage)
        if model is None:
            first = "`mav-lite train sr_low_image ...` (its image pretraining), then " if stage == "sr_low" else ""
            raise CheckpointError(f"this pipeline has no {name}: train one with {first}`mav-lite train {stage} "
                                  f"--preset {self.preset.name} --out runs/{stage}` and `mav-lite publish "
                                  f"runs/{stage}`, or pass {stage}= to from_folders")
        return model

    def weights_id(self) -> str:
        """A short hash of every network's weights: what caches of generated clips are keyed by, so
        new reference weights never read back clips that the old ones drew."""
        digest = hashlib.sha1()
        for name in ("clip", "prior", "decoder", "video_decoder", "interpolation", "sr_low", "sr_high"):
            model = getattr(self, name)
            for key, tensor in ({} if model is None else model.state_dict()).items():
                digest.update(f"{name}.{key}".encode())
                digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:10]

    def available_stages(self, first: str = "D^t") -> tuple[str, ...]:
        """The stages a mode that starts at `first` runs by default: the unbroken chain of trained
        stages from there (a CheckpointError says how to train `first` if the pipeline lacks it)."""
        last = self._last_stage(None, first)
        return STAGE_ORDER[STAGE_ORDER.index(first):STAGE_ORDER.index(last) + 1]

    def _last_stage(self, stop_after: str | None, first: str = "D^t") -> str:
        """The last stage a mode runs when it starts at stage `first`: stop_after, or the end of the
        unbroken chain the pipeline has from there."""
        if stop_after is None:
            stop_after = first
            for name in STAGE_ORDER[STAGE_ORDER.index(first) + 1:]:
                if getattr(self, VIDEO_STAGES[name][0]) is None:
                    break
                stop_after = name
        stages = STAGE_ORDER[STAGE_ORDER.index(first):]
        if stop_after not in stages:
            raise ValueError(f"unknown stage {stop_after!r}; stages: {', '.join(stages)}")
        for name in stages[:stages.index(stop_after) + 1]:
            self._model(name)
        return stop_after

    def _clock(self) -> float:
        """time.perf_counter() once the device has finished its work."""
        synchronize(self.device)
        return time.perf_counter()

    def _fps(self, fps) -> float:
        fps = float(self.preset.world.fps if fps is None else fps)
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        return fps

    def _image(self, image) -> torch.Tensor:
        return as_image(image, self.image_size)

    def _video(self, video) -> torch.Tensor:
        """A clip (3, T, H, W) in [-1, 1] at the pipeline's size (a VideoOutput gives its first clip)."""
        if isinstance(video, VideoOutput):
            video = video.video
        if not isinstance(video, torch.Tensor) or video.ndim != 4 or video.shape[0] != 3:
            shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise ValueError(f"expected a clip as a tensor (3, T, H, W) in [-1, 1], got {shape}")
        if video.shape[-2:] != (self.image_size, self.image_size) or video.shape[1] < 2:
            raise ValueError(f"expected a clip of at least 2 frames of {self.image_size}x{self.image_size}, "
                             f"got shape {tuple(video.shape)}")
        return video.float()
