import re

import pytest

from mav_lite.data import ShapesWorld, parse_caption, vocabulary
from mav_lite.data.vocab import words


@pytest.fixture(scope="module")
def world():
    return ShapesWorld(size=16, seed=3)


def test_every_caption_parses_back_to_its_ground_truth(world):
    for i in range(800):
        attrs = world.scene(i)
        said = parse_caption(attrs["caption"])
        truth = [{k: o[k] for k in ("shape", "color", "size", "position")} for o in attrs["objects"]]
        assert said["objects"] == truth, attrs["caption"]
        assert said["background"] in (None, attrs["background"])


def test_clip_captions_parse_to_their_motions(world):
    for i in range(150):
        _, caption, attrs = world.eval_clip(i, frames=2)
        said = parse_caption(caption)["objects"]
        for obj, words_ in zip(attrs["objects"], said):
            assert words_["motion"] == obj["motion"] and words_["shape"] == obj["shape"], caption
            assert words_.get("direction") == obj.get("direction")


def test_captions_use_only_the_vocabulary_and_are_well_formed(world):
    vocab = set(vocabulary())
    seen = set()
    for i in range(800):
        caption = world.scene(i)["caption"]
        assert caption == caption.strip() and "  " not in caption and re.fullmatch(r"[a-z ,:;-]+", caption)
        assert set(words(caption)) <= vocab, caption
        seen.update(words(caption))
    assert len(seen) > 0.8 * len(vocab - {"falling", "moving"})  # templates really vary


def test_word_order_and_synonyms_vary(world):
    captions = [world.scene(i)["caption"] for i in range(300)]
    assert any(":" in c for c in captions)  # "top-left: tiny crimson disc"
    assert any(c.startswith("there is") for c in captions)
    assert any(", " in c for c in captions)  # "a crimson disc, tiny, at the top left"
    reds = {w for c in captions for w in words(c) if w in ("red", "crimson", "scarlet")}
    assert len(reds) == 3


def test_a_learners_prompt_parses():
    said = parse_caption("A big crimson disc moving left and a tiny cobalt star spinning on a dark background")
    assert said == {"objects": [{"size": "large", "color": "red", "shape": "circle", "motion": "linear",
                                 "direction": "left"},
                                {"size": "small", "color": "blue", "shape": "star", "motion": "spin"}],
                    "background": "black"}
    assert parse_caption("top-left: tiny crimson disc")["objects"] == [
        {"position": "top left", "size": "small", "color": "red", "shape": "circle"}]
