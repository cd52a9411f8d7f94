import pytest
import torch

from mav_lite.checkpoints import load_pretrained
from mav_lite.data import ShapesWorld
from mav_lite.metrics import attribute_accuracy, clipsim_lite, fid_lite, prompt_hits
from mav_lite.oracle import Oracle, targets


@pytest.fixture(scope="module")
def oracle():
    return load_pretrained("oracle")[0]


@pytest.fixture(scope="module")
def renders():
    world = ShapesWorld(size=32, seed=11)  # scenes the oracle never trained on
    seen = world.images(range(256))
    held = world.images(range(64), split="held_out")
    return torch.cat([seen[0], held[0]]), seen[1] + held[1], seen[2] + held[2]


def test_reference_oracle_reads_real_renders_nearly_perfectly(oracle, renders):
    images, _, scenes = renders
    accuracy = oracle.accuracy(images, scenes)
    assert accuracy["count"] >= 0.97 and accuracy["objects"] >= 0.95
    assert accuracy["position"] >= 0.95 and accuracy["size"] >= 0.9


def test_generated_image_accuracy_on_real_renders_is_near_perfect(oracle, renders):
    images, captions, _ = renders
    acc = attribute_accuracy(oracle, images, captions)
    assert acc["color"] >= 0.97 and acc["shape"] >= 0.95 and acc["binding"] >= 0.85
    assert acc["n_color"] + acc["n_binding"] == acc["n_count"] == len(captions) and acc["count"] >= 0.95
    noise = attribute_accuracy(oracle, torch.rand(64, 3, 32, 32) * 2 - 1, captions[:64])
    assert noise["color+shape"] < 0.2  # noise does not pass as the prompt's object


def test_prompt_hits_and_bad_prompts():
    reading = {"count": 1, "objects": [{"color": "red", "shape": "star", "position": "center", "size": "small"}]}
    assert prompt_hits(reading, "a small crimson star in the center") == {
        "color": True, "shape": True, "color+shape": True, "count": True, "position": True, "size": True}
    assert prompt_hits(reading, "a big red circle") == {"color": True, "shape": False, "color+shape": False,
                                                         "count": True, "size": False}
    two = {"count": 1, "objects": reading["objects"]}
    assert prompt_hits(two, "a red star and a blue circle") == {"binding": False, "colors": False, "shapes": False,
                                                               "count": False}
    swapped = {"count": 2, "objects": [{"color": "blue", "shape": "star"}, {"color": "red", "shape": "circle"}]}
    assert prompt_hits(swapped, "a red star and a blue circle") == {"binding": False, "colors": True, "shapes": True,
                                                                   "count": True}
    assert prompt_hits(swapped, "a blue star and a red circle")["binding"]
    assert prompt_hits(swapped, "a blue star and a red star") == {"binding": False, "colors": True, "shapes": False,
                                                                 "count": True}
    with pytest.raises(ValueError, match="one or two objects"):
        prompt_hits(reading, "a gray background")


def test_targets_mark_one_cell_per_object():
    _, _, scenes = ShapesWorld(size=16, seed=0).images(range(32))
    t = targets(scenes)
    counts = torch.tensor([len(s["objects"]) for s in scenes])
    assert (counts == 2).any() and (counts == 1).any()
    assert torch.equal(t["present"].sum(1), counts.float())
    for key in ("color", "shape", "size"):
        assert torch.equal(t[key] >= 0, t["present"].bool()) and (t[key][t["present"] == 0] == -100).all()


def test_oracle_accepts_any_size_and_rejects_videos():
    model = Oracle(size=16, width=8)
    assert model.features(torch.zeros(2, 3, 40, 24)).shape == (2, 256)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.read(torch.zeros(1, 3, 2, 16, 16))


def test_fid_lite_is_zero_for_one_set_and_grows_with_damage(oracle, renders):
    images = renders[0]
    a, b = images[:160], images[160:]
    assert fid_lite(oracle, a, a) == pytest.approx(0, abs=1e-3)
    floor = fid_lite(oracle, a, b)
    assert fid_lite(oracle, a, (b + 0.3 * torch.randn_like(b)).clamp(-1, 1)) > 3 * floor
    with pytest.raises(ValueError, match="at least 2"):
        fid_lite(oracle, a, a[:1])


def test_clipsim_lite_prefers_the_right_prompts(renders):
    clip = load_pretrained("clip")[0]
    images, captions, _ = renders
    right = clipsim_lite(clip, images[:128], captions[:128])
    wrong = clipsim_lite(clip, images[:128], captions[128:256])
    assert right > wrong + 0.2
    with pytest.raises(ValueError, match="2 images but 3 prompts"):
        clipsim_lite(clip, images[:2], captions[:3])


def test_eval_prompts_come_in_three_groups():
    from mav_lite.data import HELD_OUT_PAIRS, parse_caption
    from mav_lite.evaluation import GROUPS, eval_scenes

    scenes = eval_scenes(8, size=16)
    assert list(scenes) == list(GROUPS)
    for group, (images, captions) in scenes.items():
        assert images.shape == (8, 3, 16, 16) and len(captions) == 8
        objects = [parse_caption(c)["objects"] for c in captions]
        assert all(len(o) == (2 if group == "two objects" else 1) for o in objects)
        pairs = {(o[0]["color"], o[0]["shape"]) for o in objects}
        assert pairs <= set(HELD_OUT_PAIRS) if group == "held-out" else not pairs & set(HELD_OUT_PAIRS)


def test_eval_clips_with_a_number_of_objects_show_that_many_in_every_frame():
    from mav_lite.evaluation import EVAL_SEED, eval_clips

    world = ShapesWorld(size=16, seed=EVAL_SEED)
    for objects in (1, 2):
        clips = eval_clips(6, 16, 3, 8, objects=objects)
        assert clips.shape == (6, 3, 3, 16, 16)
        shown = [i for i in range(40) if len(world.video(i, frames=3, fps=8)[1]["objects"]) == objects][:6]
        assert torch.equal(clips, world.videos(shown, 3, 8)[0])  # the world's first six such clips
    assert torch.equal(eval_clips(4, 16, 3, 8), world.videos(range(4), 3, 8)[0])  # no filter: the first n


def test_clip_frames_for_the_oracle_keep_one_object_per_cell():
    from mav_lite.oracle import cell, clip_frame

    assert [cell(0.1, 0.9), cell(0.5, 0.5), cell(0.99, 0.01), cell(1.2, -0.1)] == \
        ["bottom left", "center", "top right", "top right"]
    world = ShapesWorld(size=16, seed=0)
    for i in range(20):
        image, scene = clip_frame(world, i)
        positions = [o["position"] for o in scene["objects"]]
        assert image.shape == (3, 16, 16) and len(set(positions)) == len(positions)
        assert positions == [cell(o["x"], o["y"]) for o in scene["objects"]]
    assert torch.equal(clip_frame(world, 3)[0], clip_frame(world, 3)[0])


def test_binding_over_seeds_counts_each_prompt_by_seed(oracle):
    from mav_lite.evaluation import binding_over_seeds

    class Redraw:  # seeds 0 and 2 give back the real renders, seed 1 a blank canvas
        image_size = 32

        def redraw_images(self, images, seed, progress, steps, guidance):
            return torch.zeros_like(images) if seed == 1 else images

    over = binding_over_seeds(Redraw(), oracle, n=32, seeds=3, true_embedding=True)
    real, blank, again = over["per_seed"]
    assert over["n"] == 32 and real >= 0.85 and blank == 0 and again == real
    assert over["any"] == real and over["all"] == 0  # a prompt counts once however many seeds bind it
    with pytest.raises(ValueError, match="at least 1"):
        binding_over_seeds(Redraw(), oracle, seeds=0)
