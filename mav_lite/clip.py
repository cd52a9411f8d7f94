"""CLIP-lite: the text encoder C_x and the image encoder C_y, trained contrastively (notebook 03).

Make-A-Video reuses CLIP: C_x turns the prompt x into a text embedding x_e (the prior P reads it,
with the tokens), C_y turns an image into the image embedding y_e that the decoders D and D^t are
conditioned on. Both embeddings live in one L2-normalized space, learned from text-image pairs with
the symmetric InfoNCE loss of CLIP (Radford et al. 2021) and a learned temperature.

    tokenizer = Tokenizer.from_captions(captions, context=24)   # the vocabulary comes from the data
    model = CLIPLite(tokenizer, embed_dim=64, width=96, layers=3, heads=4)
    x_e = model.encode_text(["a small red circle at the top left"])   # (1, 64), unit norm
    y_e = model.encode_image(images)                                  # (B, 64), unit norm

Registered as the `clip` stage: `mav-lite train clip --preset cpu --out runs/clip`. Its option
`hard_negatives` (on by default) adds, for each caption, copies wrong in one detail (another
shape, another colour, the two colours swapped; `alternatives` sets how many other shapes and
colours each word is tried with) that its image must tell apart from the truth:
plain contrastive training on Shapes World learns colour, size and position but barely shape and
not binding, since those already tell 32 scenes apart (notebook 03 measures it). Binding also
needs C_x to know word order: token embeddings start small (std 0.02, as in CLIP), or they drown
the position embeddings and the transformer reads a bag of words. The option `caption_layers` (0:
off) trains a `Captioner` beside them that must say the caption from y_e alone (README: it makes
a two-object scene only a little easier to read out of y_e).
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from functools import cache

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .checkpoints import load_model, load_pretrained
from .config import Preset
from .data import resize_images, vocabulary
from .data.captions import COLOR_OF, SHAPE_OF
from .data.vocab import COLOR_WORDS, SHAPE_WORDS
from .train import Stage, register_stage, shapes_image_stream

PAD, UNK, CLS = "[pad]", "[unk]", "[cls]"
GRID = 4  # C_y's map has GRID x GRID cells


class Tokenizer:
    """Words -> ids over a fixed vocabulary; a prompt becomes [cls] w1 w2 ... [pad] ... (context ids).

    Unknown words are an error that lists them with the nearest known words (or, with
    strict=False, become [unk] with a warning); empty prompts and prompts longer than the context
    are errors too.
    """

    def __init__(self, words: list[str], context: int):
        self.words = [PAD, UNK, CLS] + sorted(set(words) - {PAD, UNK, CLS})
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.context = int(context)

    @classmethod
    def from_captions(cls, captions, context: int) -> "Tokenizer":
        """A tokenizer knowing every word of `captions` (e.g. a user's ImageFolder captions)."""
        return cls(sorted({w for c in captions for w in cls.split(c)}), context)

    @staticmethod
    def split(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, prompts, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """prompts (a string or a list) -> ids (B, context) and a padding mask (B, context), True = padding."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        ids = torch.zeros(len(prompts), self.context, dtype=torch.long)  # [pad] = 0
        for row, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError(f"a prompt must be a string, got {type(prompt).__name__}")
            tokens = self.split(prompt)
            if not tokens:
                raise ValueError(f"empty prompt {prompt!r}: say what to draw, e.g. 'a small red circle'")
            if len(tokens) + 1 > self.context:
                raise ValueError(f"prompt too long: {len(tokens)} words, at most {self.context - 1}: {prompt!r}")
            unknown = [w for w in tokens if w not in self.ids]
            if unknown:
                hints = "; ".join(f"{w!r} (did you mean {', '.join(map(repr, near))}?)" if near else repr(w)
                                  for w in dict.fromkeys(unknown)
                                  for near in [difflib.get_close_matches(w, self.words[3:], n=3)])
                if strict:
                    raise ValueError(f"unknown word(s) in {prompt!r}: {hints}. Known words: see Tokenizer.words")
                warnings.warn(f"unknown word(s) mapped to {UNK}: {hints}", stacklevel=2)
            ids[row, : len(tokens) + 1] = torch.tensor([self.ids[CLS]] + [self.ids.get(w, self.ids[UNK]) for w in tokens])
        return ids, ids == self.ids[PAD]


class WordTransformer(nn.Module):
    """Word and position embeddings, a pre-norm transformer and a final norm: what C_x and the
    captioner share."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int):
        super().__init__()
        self.token = nn.Embedding(vocab, width)
        # small, as in CLIP: at PyTorch's default (std 1) the words drown their positions (a bag of words)
        nn.init.normal_(self.token.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(context, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)


class TextEncoder(WordTransformer):
    """C_x: a small transformer over the tokens; the [cls] token's output, projected, is x_e."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int, embed_dim: int):
        super().__init__(vocab, context, width, layers, heads)
        self.proj = nn.Linear(width, embed_dim, bias=False)

    def forward(self, ids: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, padding (B, L) -> token features (B, L, width) and x_e (B, embed_dim), unit norm."""
        h = self.token(ids) + self.position[: ids.shape[1]]  # (B, L, width)
        h = self.norm(self.transformer(h, src_key_padding_mask=padding))
        return h, F.normalize(self.proj(h[:, 0]), dim=-1)  # [cls] is token 0


class ImageEncoder(nn.Module):
    """C_y: a small CNN (six 3x3 convs, three of them halving the size); its 4x4 feature map is
    flattened (keeping where things are) and projected."""

    def __init__(self, width: int, embed_dim: int):
        super().__init__()
        plan = [(width // 2, 1), (width // 2, 1), (width, 2), (width, 1), (width, 2), (width, 2)]  # (channels, stride)
        layers, c = [], 3
        for w, stride in plan:
            layers += [nn.Conv2d(c, w, 3, stride=stride, padding=1), nn.GroupNorm(min(8, w // 4), w), nn.SiLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.proj = nn.Sequential(nn.Linear(c * 16, 2 * width), nn.SiLU(), nn.Linear(2 * width, embed_dim))

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> the convolutions' map pooled to 4x4, flattened (B, C * 16): what
        the projection reads (benchmarks/embedding_probe.py probes it)."""
        return rearrange(F.adaptive_avg_pool2d(self.features(images), GRID), "b c h w -> b (c h w)")

    def embed(self, grid: torch.Tensor) -> torch.Tensor:
        """The flattened map (B, C * 16) -> y_e (B, embed_dim), unit norm."""
        return F.normalize(self.proj(grid), dim=-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> y_e (B, embed_dim), unit norm."""
        return self.embed(self.grid(images))


class Captioner(WordTransformer):
    """Reads the caption back out of y_e alone, one word after another (CoCa's captioning loss, Yu et
    al. 2022, but seeing the image only through y_e): a causal transformer whose first token is y_e.
    Trained beside the contrastive loss, it pushes y_e to hold every word of the caption, which object has
    which colour included, not only what tells captions apart."""

    def __init__(self, vocab: int, context: int, width: int, layers: int, heads: int, embed_dim: int):
        super().__init__(vocab, context, width, layers, heads)
        self.start = nn.Linear(embed_dim, width)  # y_e -> the first token
        self.out = nn.Linear(width, vocab)

    def logits(self, y_e: torch.Tensor, ids: torch.Tensor, padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y_e (B, embed_dim), ids and padding (B, L) from the tokenizer -> for each word w1 .. wn of the
        longest caption, logits over the vocabulary (B, n, V) from y_e and the words before it, and the
        words themselves (B, n), [pad] (id 0) after a caption's end."""
        words = ids[:, 1: int((~padding).sum(dim=1).max())]  # [cls] is not predicted
        n = words.shape[1]
        h = torch.cat([self.start(y_e)[:, None], self.token(words[:, :-1])], dim=1)  # y_e, w1 .. w(n-1)
        causal = torch.ones(n, n, dtype=torch.bool, device=ids.device).triu(1)  # True: may not look
        return self.out(self.norm(self.transformer(h + self.position[:n], mask=causal))), words

    def forward(self, y_e: torch.Tensor, ids: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The mean cross-entropy of the caption's words (padding is not predicted)."""
        logits, words = self.logits(y_e, ids, padding)
        return F.cross_entropy(rearrange(logits, "b n v -> (b n) v"), words.flatten(), ignore_index=0)


class CLIPLite(nn.Module):
    """C_x and C_y with a learned temperature; forward(images, ids, padding) is the contrastive loss
    (plus the captioner's loss when it has one)."""

    def __init__(self, words: list[str], context: int, embed_dim: int, width: int, layers: int, heads: int,
                 image_size: int = 32, caption_layers: int = 0):
        super().__init__()
        self.tokenizer = Tokenizer(words, context)
        self.image_size = int(image_size)  # C_y sees images at this size; others are resized to it
        self.config = dict(words=self.tokenizer.words[3:], context=context, embed_dim=embed_dim, width=width,
                           layers=layers, heads=heads, image_size=image_size, caption_layers=caption_layers)
        self.text = TextEncoder(len(self.tokenizer), context, width, layers, heads, embed_dim)
        self.image = ImageEncoder(width, embed_dim)
        # training only: P and D never see it
        self.captioner = (Captioner(len(self.tokenizer), context, width, caption_layers, heads, embed_dim)
                          if caption_layers else None)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature 0.07

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def text_features(self, prompts, strict: bool = True, encoder: TextEncoder | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prompts -> token features (B, L, width), padding mask (B, L) and x_e (B, embed_dim), where L is
        the longest prompt's length in tokens (the padding after it changes nothing: it is masked).
        encoder: another text encoder over this tokenizer's ids (a prior's own tuned copy of C_x)."""
        ids, padding = self.tokenizer.encode(prompts, strict)
        length = int((~padding).sum(dim=1).max())
        ids, padding = ids[:, :length].to(self.device), padding[:, :length].to(self.device)
        tokens, x_e = (encoder or self.text)(ids, padding)
        return tokens, padding, x_e

    def encode_text(self, prompts, strict: bool = True) -> torch.Tensor:
        """Prompts -> x_e (B, embed_dim), unit norm."""
        return self.text_features(prompts, strict)[2]

    @property
    def map_dim(self) -> int:
        """Size of C_y's flattened 4x4 map (`encode_image(..., as_map=True)`)."""
        return self.image.proj[0].in_features

    def encode_image(self, images: torch.Tensor, as_map: bool = False) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1], any H and W -> y_e (B, embed_dim), unit norm. as_map: C_y's 4x4
        map before the projection instead, flattened channel-first (B, map_dim) and standardized over
        all its numbers per image (entries ~1, the scale P diffuses at): the embedding of
        map-conditioned decoders, which keeps each object in its own cell."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        images = resize_images(images.to(self.device, torch.float32), self.image_size)
        if not as_map:
            return self.image(images)
        grid = self.image.grid(images)
        return F.layer_norm(grid, grid.shape[-1:])

    def forward(self, images: torch.Tensor, ids: torch.Tensor, padding: torch.Tensor,
                negative_ids: torch.Tensor | None = None, negative_padding: torch.Tensor | None = None,
                owners: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric InfoNCE: pair i is the right answer among the batch, from either side.

        Hard negatives (captions wrong in one detail; owners[j] is the image negative j was made
        from) add a second term: each image must also pick its own caption among its own hard
        negatives. Among 128 random captions one detail rarely decides; here it always does.
        """
        y_e = self.encode_image(images)
        x_e = self.text(ids, padding)[1]
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        logits = scale * y_e @ x_e.T  # (B, B) scaled cosines
        labels = torch.arange(len(images), device=images.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        if self.captioner is not None:
            loss = loss + self.captioner(y_e, ids, padding)
        if negative_ids is None or not len(negative_ids):
            return loss
        if owners is None or len(owners) != len(negative_ids):
            raise ValueError("hard negatives need owners: for each negative, the index of its image")
        negatives = self.text(negative_ids, negative_padding)[1]  # (M, D)
        # image i's row: its own caption (column 0), then its own negatives; other places -inf
        rank = torch.cat([torch.arange(n, device=owners.device) for n in owners.bincount(minlength=len(images))])
        focused = logits.new_full((len(images), 1 + int(rank.max()) + 1), -torch.inf)
        focused[:, 0] = logits.diagonal()
        focused[owners, 1 + rank] = scale * (y_e[owners] * negatives).sum(dim=-1)
        return loss + F.cross_entropy(focused, torch.zeros_like(labels))


@cache
def frozen_clip(folder: str | None = None, device: str = "cpu") -> CLIPLite:
    """The CLIP-lite that P and D learn from (and are used with): a run folder, or the reference one."""
    model, _ = load_pretrained("clip", device=device) if folder is None else load_model(folder, "clip", device)
    return model.requires_grad_(False)


@torch.no_grad()
def retrieval_accuracy(model: CLIPLite, images: torch.Tensor, captions: list[str], group: int = 32) -> float:
    """Zero-shot retrieval: the share of images whose own caption is the most similar among `group`."""
    hits = total = 0
    for start in range(0, len(images) - group + 1, group):
        y_e = model.encode_image(images[start:start + group])
        x_e = model.encode_text(captions[start:start + group])
        hits += (y_e @ x_e.T).argmax(dim=1).eq(torch.arange(group, device=y_e.device)).sum().item()
        total += group
    if not total:
        raise ValueError(f"need at least {group} images, got {len(images)}")
    return hits / total


@torch.no_grad()
def binding_accuracy(model: CLIPLite, images: torch.Tensor, captions: list[str]) -> tuple[float, int]:
    """Binding: the share of scenes with two colours whose caption beats the same caption with the
    colours swapped (chance 50%), and how many such scenes there were."""
    pairs = [(i, swap) for i, c in enumerate(captions) for swap in [swapped_colors(c)] if swap is not None]
    if not pairs:
        raise ValueError("no caption names two different colours: nothing to swap")
    idx = [i for i, _ in pairs]
    y_e = model.encode_image(images[idx])
    true = (y_e * model.encode_text([captions[i] for i in idx])).sum(dim=1)
    swapped = (y_e * model.encode_text([swap for _, swap in pairs])).sum(dim=1)
    return (true > swapped).float().mean().item(), len(idx)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 steps: int = 300) -> float:
    """What an embedding knows: test accuracy of a linear classifier trained on frozen embeddings."""
    torch.manual_seed(0)
    classes = int(max(train_y.max(), test_y.max())) + 1
    probe = nn.Linear(train_x.shape[1], classes)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return probe(test_x).argmax(dim=1).eq(test_y).float().mean().item()


def swapped_colors(caption: str) -> str | None:
    """The caption with its two colour words swapped ("a red circle and a blue star" -> "a blue circle
    and a red star"): the same words, another scene. None unless it names exactly two different colours."""
    words = caption.split(" ")
    core = [w.strip(",:;") for w in words]
    colors = [k for k, w in enumerate(core) if w in COLOR_OF]
    if len(colors) != 2 or COLOR_OF[core[colors[0]]] == COLOR_OF[core[colors[1]]]:
        return None
    a, b = colors
    words[a], words[b] = words[a].replace(core[a], core[b]), words[b].replace(core[b], core[a])
    return " ".join(words)


def hard_negatives(caption: str, generator: torch.Generator, alternatives: int = 1) -> list[str]:
    """Captions wrong in one detail: each shape word in turn replaced by `alternatives` other shapes'
    words, each colour word by as many other colours' (all of them when there are fewer), and (with
    two colours) the colour words swapped, so that shape, every object's colour and binding matter to
    the loss."""
    if alternatives < 1:
        raise ValueError(f"alternatives must be at least 1 (other words tried per shape or colour word), "
                         f"got {alternatives}")
    words = caption.split(" ")
    core = [w.strip(",:;") for w in words]

    def replaced(k: int, new: str) -> str:
        return " ".join(words[:k] + [words[k].replace(core[k], new)] + words[k + 1:])

    def others(options: list[str]) -> list[str]:
        order = torch.randperm(len(options), generator=generator)[:alternatives]
        return [options[int(i)] for i in order]

    out = [replaced(k, new) for k, w in enumerate(core) if w in SHAPE_OF
           for new in others([s for s in SHAPE_WORDS if s != SHAPE_OF[w]])]
    out += [replaced(k, new) for k, w in enumerate(core) if w in COLOR_OF
            for new in others([c for c in COLOR_WORDS if c != COLOR_OF[w]])]
    swap = swapped_colors(caption)
    return out if swap is None else out + [swap]


def lock_image_tower(model: CLIPLite, source: str) -> CLIPLite:
    """Copy C_y from another CLIP-lite ("reference" or a run folder) into `model` and lock its convolutions:
    C_y's map stays exactly as it was, so every model conditioned on the map (the map decoders, P's
    targets) still fits, while C_x is learned anew (with today's recipe: one that reads word order)
    and the projection from the map to y_e is fine-tuned with it (locked-image tuning, LiT: Zhai et
    al. 2022, with the head left free: a colour swap moves the map four times as far as it moves the
    reference's y_e, so a locked head would hide most of what binding needs)."""
    donor = frozen_clip(None if source == "reference" else source)
    if (donor.image_size, donor.config["width"], donor.config["embed_dim"]) != (
            model.image_size, model.config["width"], model.config["embed_dim"]):
        raise ValueError(f"image_tower={source!r} has C_y at image size {donor.image_size}, width "
                         f"{donor.config['width']}, embed_dim {donor.config['embed_dim']}; this CLIP-lite needs "
                         f"{model.image_size}, {model.config['width']}, {model.config['embed_dim']}")
    model.image.load_state_dict(donor.image.state_dict())
    model.image.features.requires_grad_(False)
    return model


def build(preset: Preset, options: dict) -> CLIPLite:
    """embed_dim (option): the size of x_e and y_e, None for the preset's (benchmarks/embedding_probe.py
    measures how easily a network reads a two-object scene out of y_e). image_tower (option): None to
    train C_y too, or a CLIP-lite ("reference" or a run folder) whose C_y is copied, its map locked."""
    c = preset.clip
    model = CLIPLite(vocabulary(), c.context, options["embed_dim"] or c.embed_dim, c.width, c.layers, c.heads,
                     preset.world.image_size, options["caption_layers"])
    return model if options["image_tower"] is None else lock_image_tower(model, options["image_tower"])


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    images, captions = batch
    tokenizer = getattr(model, "module", model).tokenizer  # under data parallelism the model is wrapped
    device = generator.device
    images = images.to(device)
    ids, padding = (x.to(device) for x in tokenizer.encode(captions))
    if not options["hard_negatives"]:
        return model(images, ids, padding)
    picker = torch.Generator().manual_seed(int(torch.randint(2**31, (1,), generator=generator, device=device)))
    per_caption = [hard_negatives(c, picker, options["alternatives"]) for c in captions]
    negatives = [n for ns in per_caption for n in ns]
    if not negatives:  # captions without shape or colour words (a user's own data)
        return model(images, ids, padding)
    owners = torch.tensor([i for i, ns in enumerate(per_caption) for _ in ns], device=device)
    neg_ids, neg_padding = (x.to(device) for x in tokenizer.encode(negatives))
    return model(images, ids, padding, neg_ids, neg_padding, owners)


register_stage(Stage(
    name="clip",
    description="CLIP-lite text and image encoders C_x and C_y (notebook 03)",
    sizes=lambda p: p.clip,
    build=build,
    stream=shapes_image_stream,
    loss=loss,
    sample=None,
    rebuild=lambda config: CLIPLite(**config),
    options={"hard_negatives": True, "alternatives": 1, "embed_dim": None, "caption_layers": 0, "image_tower": None},
))

