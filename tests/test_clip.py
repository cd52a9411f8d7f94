import numpy as np
import pytest
import torch

from mav_lite.checkpoints import load_model
from mav_lite.clip import CLIPLite, Tokenizer, binding_accuracy, retrieval_accuracy, swapped_colors
from mav_lite.data import ShapesWorld, vocabulary
from mav_lite.config import get_preset
from mav_lite.train import get_stage, train


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(vocabulary(), context=32)


def test_tokenizer_encodes_known_words(tokenizer):
    ids, padding = tokenizer.encode(["a small red circle", "Top-left: tiny crimson disc"])
    assert ids.shape == padding.shape == (2, 32)
    assert ids[0, 0] == tokenizer.ids["[cls]"] and tokenizer.words[ids[0, 4]] == "circle"
    assert padding[0].tolist() == [False] * 5 + [True] * 27
    assert [tokenizer.words[i] for i in ids[1, 1:6]] == ["top", "left", "tiny", "crimson", "disc"]


def test_unknown_words_name_the_nearest_known_ones(tokenizer):
    with pytest.raises(ValueError, match=r"unknown word\(s\).*'crimsom' \(did you mean 'crimson'"):
        tokenizer.encode("a crimsom circle")
    with pytest.warns(UserWarning, match="crimsom"):
        ids, _ = tokenizer.encode("a crimsom circle", strict=False)
    assert ids[0, 2] == tokenizer.ids["[unk]"]


@pytest.mark.parametrize("prompt, message", [("", "empty prompt"), ("  ,;  ", "empty prompt"),
                                              ("circle " * 40, "too long: 40 words, at most 31")])
def test_empty_and_too_long_prompts(tokenizer, prompt, message):
    with pytest.raises(ValueError, match=message):
        tokenizer.encode(prompt)


def test_vocabulary_comes_from_the_data():
    tok = Tokenizer.from_captions(["a dog on a sofa", "Two cats, 3 mice"], context=8)
    assert {"dog", "sofa", "two", "cats", "3", "mice"} <= set(tok.words)
    with pytest.raises(ValueError, match="'circle'"):
        tok.encode("a circle")


def test_embeddings_are_unit_vectors():
    model = CLIPLite(vocabulary(), context=32, embed_dim=16, width=32, layers=1, heads=2)
    images, captions, _ = ShapesWorld(size=16, seed=0).images(range(4))
    x_e, y_e = model.encode_text(captions), model.encode_image(images)
    assert x_e.shape == y_e.shape == (4, 16)
    assert torch.allclose(x_e.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(y_e.norm(dim=1), torch.ones(4), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.encode_image(images[0])


def test_contrastive_training_learns_retrieval(tmp_path):
    run = train("clip", "ci", tmp_path / "clip", progress=False, steps=150, lr=1e-3, warmup=20, precision="no",
                save_every=1000, sample_every=1000, val_every=1000)
    losses = run.history["loss"]
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:5])
    images, captions, _ = ShapesWorld(size=16, seed=5).images(range(128))
    assert retrieval_accuracy(run.ema, images, captions) > 0.12  # chance: 1/32 = 0.03


def test_embed_dim_and_captioner_options_and_the_card_keeps_them(tmp_path):
    run = train("clip", "ci", tmp_path / "clip", progress=False, steps=2, precision="no",
                options={"embed_dim": 24, "caption_layers": 1})
    model, card = load_model(tmp_path / "clip", "clip")
    assert card["config"]["embed_dim"] == 24 and card["identity"]["options"]["embed_dim"] == 24
    assert card["config"]["caption_layers"] == 1 and len(model.captioner.transformer.layers) == 1
    images, captions, _ = ShapesWorld(size=16, seed=0).images(range(2))
    assert model.encode_image(images).shape == model.encode_text(captions).shape == (2, 24)
    assert torch.equal(model.encode_image(images), run.ema.encode_image(images))


def test_locked_image_tower_keeps_the_donors_map_exactly_and_trains_c_x(tmp_path):
    train("clip", "ci", tmp_path / "donor", progress=False, steps=3, precision="no")
    donor, _ = load_model(tmp_path / "donor", "clip")
    stage, options = get_stage("clip"), {"image_tower": str(tmp_path / "donor")}
    torch.manual_seed(0)  # as the trainer does before it builds: the weights the locked run starts from
    start = stage.build(get_preset("ci"), {**stage.options, **options})
    images, _, _ = ShapesWorld(size=16, seed=0).images(range(4))
    assert torch.equal(start.encode_image(images), donor.encode_image(images))  # C_y copied whole
    assert not any(p.requires_grad for p in start.image.features.parameters())
    run = train("clip", "ci", tmp_path / "lit", progress=False, steps=5, lr=1e-3, warmup=1, precision="no",
                options=options)
    model, card = load_model(tmp_path / "lit", "clip")
    assert torch.equal(model.encode_image(images, as_map=True), donor.encode_image(images, as_map=True))
    for trained in ("text.token.weight", "image.proj.0.weight"):  # C_x and the head to y_e learn
        assert not torch.equal(run.ema.state_dict()[trained], start.state_dict()[trained])
    assert card["identity"]["options"]["image_tower"] == str(tmp_path / "donor")
    train("clip", "ci", tmp_path / "wide", progress=False, steps=1, precision="no", options={"embed_dim": 24})
    with pytest.raises(ValueError, match="embed_dim 24"):
        train("clip", "ci", tmp_path / "bad", progress=False, steps=1, precision="no",
              options={"image_tower": str(tmp_path / "wide")})


def test_hard_negatives_change_one_detail():
    from mav_lite.clip import hard_negatives
    from mav_lite.data import parse_caption

    generator = torch.Generator().manual_seed(0)
    caption = "top-left: tiny crimson disc; a big cobalt box, huge, on the right"
    negatives = hard_negatives(caption, generator)
    assert len(negatives) == 5  # two shapes, two colours, one swap
    truth = parse_caption(caption)["objects"]
    read = [parse_caption(x)["objects"] for x in negatives]

    def changed(objects):  # which (object, attribute) differ from the truth
        return [(k, a) for k, (o, t) in enumerate(zip(objects, truth)) for a in ("color", "shape") if o[a] != t[a]]

    assert [changed(o) for o in read[:4]] == [[(0, "shape")], [(1, "shape")], [(0, "color")], [(1, "color")]]
    assert [o["color"] for o in read[4]] == [o["color"] for o in truth][::-1]
    assert [o["shape"] for o in read[4]] == [o["shape"] for o in truth]
    assert len(hard_negatives("a small red circle", generator)) == 2  # one colour: nothing to swap


def test_hard_negatives_try_several_alternatives_per_word():
    from mav_lite.clip import hard_negatives
    from mav_lite.data import parse_caption

    caption = "a red circle at the top left and a blue star at the bottom right"
    generator = torch.Generator().manual_seed(0)
    three = hard_negatives(caption, generator, alternatives=3)
    assert len(three) == len(set(three)) == 2 * 3 + 2 * 3 + 1
    every = hard_negatives(caption, generator, alternatives=100)  # more than there are: every other one, once
    assert len(every) == len(set(every)) == 2 * 7 + 2 * 9 + 1
    truth = [(o["color"], o["shape"]) for o in parse_caption(caption)["objects"]]
    first_shapes = {parse_caption(n)["objects"][0]["shape"] for n in every[:7]}
    assert len(first_shapes) == 7 and truth[0][1] not in first_shapes
    with pytest.raises(ValueError, match="alternatives must be at least 1"):
        hard_negatives(caption, generator, alternatives=0)


def test_hard_negatives_are_a_second_choice_per_image():
    """Each image also picks its caption among its own negatives: with negatives that are copies of
    the captions, that choice is a coin toss, and the loss grows by exactly log 2."""
    model = CLIPLite(vocabulary(), context=32, embed_dim=16, width=32, layers=1, heads=2).eval()
    images, captions, _ = ShapesWorld(size=16, seed=0).images(range(4))
    ids, padding = model.tokenizer.encode(captions)
    plain = model(images, ids, padding)
    assert torch.equal(model(images, ids, padding, ids[:0], padding[:0]), plain)  # no negatives: no change
    with_copies = model(images, ids, padding, ids, padding, owners=torch.arange(4))
    assert torch.allclose(with_copies - plain, torch.tensor(np.log(2), dtype=torch.float32), atol=1e-5)
    with pytest.raises(ValueError, match="need owners"):
        model(images, ids, padding, ids, padding)


def test_swapped_colors_swaps_only_two_different_colours():
    assert swapped_colors("a red circle and a big cobalt star") == "a cobalt circle and a big red star"
    assert swapped_colors("top-left: crimson disc; a big azure box") == "top-left: azure disc; a big crimson box"
    assert swapped_colors("a red circle and a crimson star") is None  # crimson is red: the same scene
    assert swapped_colors("a small red circle") is None


def test_untrained_text_encoder_already_reads_word_order():
    """Token embeddings start small (std 0.02), so the position embeddings are not drowned: a caption
    and its colour swap differ at initialization (with PyTorch's default std 1: 1 - cosine ~ 2e-6)."""
    torch.manual_seed(0)
    model = CLIPLite(vocabulary(), context=32, embed_dim=64, width=96, layers=3, heads=4).eval()
    captions = ["a red circle and a blue star", "top-left: tiny crimson disc; a big azure box"]
    with torch.no_grad():
        x_e = model.encode_text(captions)
        swapped = model.encode_text([swapped_colors(c) for c in captions])
    assert (1 - (x_e * swapped).sum(dim=1)).min() > 1e-4


def test_binding_accuracy_compares_each_caption_with_its_colour_swap():
    model = CLIPLite(vocabulary(), context=32, embed_dim=16, width=32, layers=1, heads=2).eval()
    images, captions, _ = ShapesWorld(size=16, seed=0).images(range(64))
    share, n = binding_accuracy(model, images, captions)
    assert n == sum(swapped_colors(c) is not None for c in captions) > 0
    swapped = [swapped_colors(c) or c for c in captions]  # swapping twice gives the caption back
    assert binding_accuracy(model, images, swapped) == pytest.approx((1 - share, n))
    with pytest.raises(ValueError, match="nothing to swap"):
        binding_accuracy(model, images[:1], ["a small red circle"])


def test_captioner_reads_each_word_from_y_e_and_the_words_before_it_only():
    """The captioner sees the image only through y_e and never looks ahead: changing the last word
    changes no earlier prediction; changing y_e changes them all; its loss reaches C_y, not C_x."""
    torch.manual_seed(0)
    model = CLIPLite(vocabulary(), context=32, embed_dim=16, width=32, layers=1, heads=2, caption_layers=1).eval()
    images, _, _ = ShapesWorld(size=16, seed=0).images(range(2))
    ids, padding = model.tokenizer.encode(["a small red circle at the top left", "a small red circle at the top right"])
    y_e = model.encode_image(images)
    logits, words = model.captioner.logits(y_e[:1].expand(2, -1), ids, padding)
    assert words.shape == (2, 8) and torch.equal(words, ids[:, 1:9])
    assert torch.allclose(logits[0, :-1], logits[1, :-1], atol=1e-6)  # "left" vs "right": only the last word
    other, _ = model.captioner.logits(y_e[1:].expand(2, -1), ids, padding)
    assert (other - logits).abs().amax(dim=-1).min() > 1e-4
    model.zero_grad()
    model.captioner(model.encode_image(images), ids, padding).backward()
    assert model.image.proj[-1].weight.grad.abs().sum() > 0 and model.text.proj.weight.grad is None
