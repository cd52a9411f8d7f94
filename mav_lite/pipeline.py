"""MakeAVideoLite: the chain of trained stages behind one object (notebooks 05, 10-12).

    from mav_lite import MakeAVideoLite
    pipe = MakeAVideoLite.from_pretrained()                    # reference weights from data/checkpoints
    images = pipe.text_to_image(["a red circle", "a blue star at the top left"], seed=0)  # (B, 3, H, W)

    out = pipe.text_to_video("a red circle", seed=0, fps=8)   # out.video (3, T, H, W); out.save("clip.gif")

text_to_image is the image half of Make-A-Video: prompt -> C_x -> x_e -> P -> y_e -> D -> image.
text_to_video swaps D for D^t (notebook 07): prompt -> C_x -> P -> y_e -> D^t -> base clip at `fps`.
The text only reaches P: motion comes from what D^t learned on unlabeled video, so motion words in
a prompt are read by CLIP-lite but cannot steer the motion (a limitation the paper states too).
Step counts and guidance scales default to the preset the decoders were trained with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import decoder as decoder_lib
from . import prior as prior_lib
from . import video_decoder as video_lib
from .checkpoints import REFERENCE_DIR, CheckpointError, load_model
from .config import get_preset


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

    def save(self, path, index: int = 0) -> Path:
        """Write one clip as .mp4 (H.264) or .gif, at the clip's fps."""
        from .viz import save_video

        return save_video(self.videos[index], path, fps=self.fps)

    def show(self) -> None:
        """Play every clip in the notebook, titled with its prompt."""
        from .viz import show_videos

        show_videos(self.videos, self.prompts, fps=self.fps)


class MakeAVideoLite:
    """The trained stages (C_x/C_y, P, D, D^t) and the generation modes built from them."""

    def __init__(self, clip, prior, decoder, preset: str = "cpu", prior_options: dict | None = None,
                 decoder_options: dict | None = None, video_decoder=None, video_options: dict | None = None):
        self.clip, self.prior, self.decoder = clip.eval(), prior.eval(), decoder.eval()
        self.video_decoder = None if video_decoder is None else video_decoder.eval()
        self.video_options = {**video_lib.OPTIONS, **(video_options or {})}
        self.preset = get_preset(preset)
        self.prior_options = {**prior_lib.OPTIONS, **(prior_options or {})}
        self.decoder_options = {**decoder_lib.OPTIONS, **(decoder_options or {})}
        if decoder.config["cond_dim"] != clip.config["embed_dim"]:
            raise ValueError(f"the decoder expects {decoder.config['cond_dim']}-d image embeddings but CLIP-lite "
                             f"makes {clip.config['embed_dim']}-d ones: they were not trained together")
        if video_decoder is not None and video_decoder.config["cond_dim"] != clip.config["embed_dim"]:
            raise ValueError(f"the video decoder expects {video_decoder.config['cond_dim']}-d image embeddings but "
                             f"CLIP-lite makes {clip.config['embed_dim']}-d ones: they were not trained together")

    @classmethod
    def from_folders(cls, clip: Path, prior: Path, decoder: Path, device=None,
                     video_decoder: Path | None = None) -> "MakeAVideoLite":
        """A pipeline from checkpoint folders (run folders of `mav-lite train`, or reference ones)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        clip_model, _ = load_model(clip, "clip", device)
        prior_model, prior_card = load_model(prior, "prior", device)
        decoder_model, decoder_card = load_model(decoder, "decoder", device)
        video_model, video_card = (None, None) if video_decoder is None else \
            load_model(video_decoder, "video_decoder", device)
        if video_card is not None and video_card["preset"] != decoder_card["preset"]:
            raise CheckpointError(f"{video_decoder} was trained in preset {video_card['preset']!r} but {decoder} in "
                                  f"{decoder_card['preset']!r}: D^t and D must share the preset's sizes")
        return cls(clip_model, prior_model, decoder_model, decoder_card["preset"],
                   prior_card["identity"]["options"], decoder_card["identity"]["options"], video_model,
                   None if video_card is None else video_card["identity"]["options"])

    @classmethod
    def from_pretrained(cls, root: Path | None = None, device=None) -> "MakeAVideoLite":
        """The reference weights in data/checkpoints (or another folder holding clip/, prior/, decoder/
        and, for video, video_decoder/)."""
        root = Path(root or REFERENCE_DIR)
        video = root / "video_decoder"
        return cls.from_folders(root / "clip", root / "prior", root / "decoder", device,
                                video if video.is_dir() else None)

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
    def image_embeddings(self, prompts, seed=0, steps: int | None = None, guidance: float | None = None,
                         progress: bool = True, strict: bool = True) -> torch.Tensor:
        """Prompts -> y_e (B, D) drawn by the prior P."""
        p = self.preset.prior
        return prior_lib.sample(self.prior, self.clip, prompts, guidance=p.guidance if guidance is None else guidance,
                                steps=steps or p.sample_steps, generator=self._generator(seed),
                                timesteps=self.prior_options["timesteps"], progress=progress, strict=strict)

    @torch.no_grad()
    def text_to_image(self, prompts, seed=0, steps: int | None = None, guidance: float | None = None,
                      prior_steps: int | None = None, prior_guidance: float | None = None, progress: bool = True,
                      strict: bool = True) -> torch.Tensor:
        """Prompts (a string or a list) -> images (B, 3, H, W) in [-1, 1].

        seed: an int or a torch.Generator; steps / guidance: the decoder's DDIM steps and guidance
        scale; prior_steps / prior_guidance: the prior's. strict=False maps unknown words to [unk]
        with a warning instead of raising.
        """
        generator = self._generator(seed)
        y_e = self.image_embeddings(prompts, generator, prior_steps, prior_guidance, progress, strict)
        d = self.preset.decoder
        guidance = d.guidance if guidance is None else guidance
        return decoder_lib.sample(self.decoder, y_e, self.image_size, guidance=guidance,
                                  steps=steps or d.sample_steps, generator=generator,
                                  prediction=self.decoder_options["prediction"],
                                  timesteps=self.decoder_options["timesteps"], progress=progress)

    @torch.no_grad()
    def text_to_video(self, prompts, seed=0, fps: float | None = None, frames: int | None = None,
                      steps: int | None = None, guidance: float | None = None, prior_steps: int | None = None,
                      prior_guidance: float | None = None, progress: bool = True, strict: bool = True) -> VideoOutput:
        """Prompts (a string or a list) -> base clips: C_x -> P -> y_e -> D^t at `fps` frames per second.

        fps, frames: default to the preset's base clip; steps / guidance: D^t's DDIM steps and
        guidance scale; the prior's as in text_to_image. Returns a VideoOutput (.video, .videos,
        .stages, .save(), .show()).
        """
        if self.video_decoder is None:
            raise CheckpointError("this pipeline has no video decoder D^t: train one with `mav-lite train "
                                  "video_decoder --preset cpu --out runs/video_decoder` and `mav-lite publish "
                                  "runs/video_decoder`, or pass video_decoder= to from_folders")
        w, v = self.preset.world, self.preset.video
        fps = float(w.fps if fps is None else fps)
        frames = int(w.frames if frames is None else frames)
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        generator = self._generator(seed)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        start = time.perf_counter()
        y_e = self.image_embeddings(prompts, generator, prior_steps, prior_guidance, progress, strict)
        seconds = {"P": time.perf_counter() - start}
        start = time.perf_counter()
        videos = video_lib.sample(self.video_decoder, y_e, frames, self.image_size, fps,
                                  guidance=v.guidance if guidance is None else guidance,
                                  steps=steps or v.sample_steps, generator=generator,
                                  prediction=self.video_options["prediction"],
                                  timesteps=self.video_options["timesteps"], progress=progress)
        seconds["D^t"] = time.perf_counter() - start
        return VideoOutput(videos, {"D^t": videos}, prompts, seed if isinstance(seed, int) else None, fps, seconds)
