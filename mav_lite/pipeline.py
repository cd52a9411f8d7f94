"""MakeAVideoLite: the chain of trained stages behind one object (notebooks 05, 10-12).

    from mav_lite import MakeAVideoLite
    pipe = MakeAVideoLite.from_pretrained()                    # reference weights from data/checkpoints
    images = pipe.text_to_image(["a red circle", "a blue star at the top left"], seed=0)  # (B, 3, H, W)

text_to_image is the image half of Make-A-Video: prompt -> C_x -> x_e -> P -> y_e -> D -> image.
Step counts and guidance scales default to the preset the decoder was trained with.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import decoder as decoder_lib
from . import prior as prior_lib
from .checkpoints import REFERENCE_DIR, load_model
from .config import get_preset


class MakeAVideoLite:
    """The trained stages (C_x/C_y, P, D) and the generation modes built from them."""

    def __init__(self, clip, prior, decoder, preset: str = "cpu", prior_options: dict | None = None,
                 decoder_options: dict | None = None):
        self.clip, self.prior, self.decoder = clip.eval(), prior.eval(), decoder.eval()
        self.preset = get_preset(preset)
        self.prior_options = {**prior_lib.OPTIONS, **(prior_options or {})}
        self.decoder_options = {**decoder_lib.OPTIONS, **(decoder_options or {})}
        if decoder.config["cond_dim"] != clip.config["embed_dim"]:
            raise ValueError(f"the decoder expects {decoder.config['cond_dim']}-d image embeddings but CLIP-lite "
                             f"makes {clip.config['embed_dim']}-d ones: they were not trained together")

    @classmethod
    def from_folders(cls, clip: Path, prior: Path, decoder: Path, device=None) -> "MakeAVideoLite":
        """A pipeline from checkpoint folders (run folders of `mav-lite train`, or reference ones)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        clip_model, _ = load_model(clip, "clip", device)
        prior_model, prior_card = load_model(prior, "prior", device)
        decoder_model, decoder_card = load_model(decoder, "decoder", device)
        return cls(clip_model, prior_model, decoder_model, decoder_card["preset"],
                   prior_card["identity"]["options"], decoder_card["identity"]["options"])

    @classmethod
    def from_pretrained(cls, root: Path | None = None, device=None) -> "MakeAVideoLite":
        """The reference weights in data/checkpoints (or another folder holding clip/, prior/, decoder/)."""
        root = Path(root or REFERENCE_DIR)
        return cls.from_folders(root / "clip", root / "prior", root / "decoder", device)

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
