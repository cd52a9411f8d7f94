import numpy as np
import pytest
import torch

from mav_lite.clip import CLIPLite, Tokenizer, retrieval_accuracy
from mav_lite.data import ShapesWorld, vocabulary
from mav_lite.train import train


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


def test_hard_negatives_change_one_detail():
    from mav_lite.clip import hard_negatives
    from mav_lite.data import parse_caption

    generator = torch.Generator().manual_seed(0)
    caption = "top-left: tiny crimson disc; a big cobalt box, huge, on the right"
    first_shape, second_shape, colour_swap = hard_negatives(caption, generator)
    truth, a, b, c = (parse_caption(x)["objects"] for x in (caption, first_shape, second_shape, colour_swap))
    assert a[0]["shape"] != truth[0]["shape"] and a[1]["shape"] == truth[1]["shape"]
    assert b[0]["shape"] == truth[0]["shape"] and b[1]["shape"] != truth[1]["shape"]
    assert [o["color"] for o in a] == [o["color"] for o in b] == [o["color"] for o in truth]
    assert [o["color"] for o in c] == [o["color"] for o in truth][::-1]
    assert [o["shape"] for o in c] == [o["shape"] for o in truth]
    assert len(hard_negatives("a small red circle", generator)) == 1  # one colour: nothing to swap


def test_negatives_only_add_image_to_text_columns():
    model = CLIPLite(vocabulary(), context=32, embed_dim=16, width=32, layers=1, heads=2)
    images, captions, _ = ShapesWorld(size=16, seed=0).images(range(4))
    ids, padding = model.tokenizer.encode(captions)
    plain = model(images, ids, padding)
    far = model(images, ids, padding, ids[:0], padding[:0])  # no negatives: the same loss
    assert torch.allclose(plain, far)
    more = model(images, ids, padding, ids, padding)  # duplicates of the positives as negatives: harder
    assert more > plain
