import pytest
import torch
from einops import rearrange

from mav_lite import MakeAVideoLite, diffusion
from mav_lite.checkpoints import REFERENCE_DIR
from mav_lite.data import ShapesWorld
from mav_lite.data.render import render
from mav_lite.data.world import to_tensor
from mav_lite.decoder import object_weights
from mav_lite.decoder import sample as decode
from mav_lite.clip import frozen_clip, swapped_colors
from mav_lite.evaluation import colour_swap_shift
from mav_lite.prior import DiffusionPrior, RegressionPrior
from mav_lite.prior import sample as prior_sample
from mav_lite.train import train
from mav_lite.unet import UNet

QUIET = dict(progress=False, save_every=1000, sample_every=1000, val_every=1000, precision="no")


@pytest.fixture(scope="module")
def clip():
    return frozen_clip()


@pytest.fixture(scope="module")
def text(clip):
    return clip.text_features(["a small red circle", "a big blue star at the top left"])


def tiny_prior(clip):
    c = clip.config
    torch.manual_seed(0)
    return DiffusionPrior(c["embed_dim"], c["width"], c["context"], width=32, layers=1, heads=2).eval()


def test_prior_shapes_and_the_dropped_text_ignores_the_prompt(clip, text):
    prior = tiny_prior(clip)
    tokens, padding, x_e = text
    z, t = torch.randn(2, x_e.shape[1]), torch.tensor([10, 500])
    out = prior(z, t, cond=x_e, tokens=tokens, padding=padding)
    assert out.shape == x_e.shape
    dropped = prior(z[:1].repeat(2, 1), t[:1].repeat(2), cond=x_e, drop=torch.tensor([True, True]),
                    tokens=tokens, padding=padding)
    assert torch.allclose(dropped[0], dropped[1], atol=1e-5)  # no trace of either prompt
    assert not torch.allclose(out[0], prior(z[:1], t[:1], cond=x_e[1:], tokens=tokens[1:], padding=padding[1:])[0])


def test_a_map_prior_predicts_each_cell_in_its_own_place_whatever_the_prompt_length(clip, text):
    c = clip.config
    torch.manual_seed(0)
    prior = DiffusionPrior(c["embed_dim"], c["width"], c["context"], width=32, layers=1, heads=2,
                           map_channels=clip.map_dim // 16).eval()
    tokens, padding, x_e = text
    z, t = torch.randn(2, clip.map_dim), torch.tensor([10, 500])
    out = prior(z, t, cond=x_e, tokens=tokens, padding=padding)
    assert out.shape == (2, clip.map_dim) and prior.scale == 1.0
    cells = rearrange(out, "b (c n) -> b c n", n=16)  # channel-first, as C_y flattens its map
    z2 = rearrange(z, "b (c n) -> b c n", n=16).clone()
    z2[:, :, 5] += 1.0  # another noised cell 5 moves cell 5's own prediction most
    moved = prior(rearrange(z2, "b c n -> b (c n)"), t, cond=x_e, tokens=tokens, padding=padding)
    change = (rearrange(moved, "b (c n) -> b c n", n=16) - cells).abs().sum(dim=(0, 1))
    assert change.argmax() == 5
    alone = prior(z[:1], t[:1], cond=x_e[:1], tokens=tokens[:1, :5], padding=padding[:1, :5])  # no padding
    torch.testing.assert_close(alone, out[:1], atol=1e-5, rtol=1e-5)  # each cell keeps its place whatever the length
    assert prior_sample(prior, clip, ["a small red circle"] * 2, steps=2, seed=0).shape == (2, clip.map_dim)


@pytest.mark.parametrize("map_channels", [0, 96])
def test_untrained_prior_already_reads_word_order(clip, map_channels):
    """C_x's token features hardly depend on word order, so P must read which colour goes with which
    shape from its own position embeddings; they start at the tokens' size, so at initialization a
    colour swap moves P's prediction at least a tenth as far as two new colours do (positions
    started at 0.02: 2-6%)."""
    c = clip.config
    torch.manual_seed(0)
    prior = DiffusionPrior(c["embed_dim"], c["width"], c["context"], width=32, layers=1, heads=2,
                           map_channels=map_channels).eval()
    captions = ["a red circle on the left and a blue star on the right", "top-left: tiny crimson disc; a big azure box"]
    new_colours = ["a green circle on the left and a yellow star on the right", "top-left: tiny lemon disc; a big violet box"]
    tokens, padding, x_e = clip.text_features(captions + [swapped_colors(c) for c in captions] + new_colours)
    z, t = torch.randn(1, prior.out_dim).repeat(6, 1), torch.full((6,), 500)
    with torch.no_grad():
        out = prior(z, t, cond=x_e, tokens=tokens, padding=padding)
    swap, other = (out[:2] - out[2:4]).norm(dim=1), (out[:2] - out[4:]).norm(dim=1)
    assert (swap / other).min() > 0.1


@pytest.mark.parametrize("scale", [1.0, 0.0, 3.0])
def test_guidance_combines_the_conditional_and_null_outputs(clip, text, scale):
    prior = tiny_prior(clip)
    tokens, padding, x_e = text
    z, t = torch.randn(2, x_e.shape[1]), torch.tensor([100, 700])
    guided = diffusion.classifier_free_guidance(prior, x_e, scale, tokens=tokens, padding=padding)(z, t)
    cond = prior(z, t, cond=x_e, tokens=tokens, padding=padding)
    null = prior(z, t, cond=x_e, drop=torch.tensor([True, True]), tokens=tokens, padding=padding)
    assert torch.allclose(guided, null + scale * (cond - null), atol=1e-5)
    if scale == 1:
        assert torch.equal(guided, cond)


def test_regression_prior_gives_unit_vectors(text):
    model = RegressionPrior(embed_dim=text[2].shape[1], width=16)
    y = model(text[2])
    assert y.shape == text[2].shape and torch.allclose(y.norm(dim=1), torch.ones(2), atol=1e-5)


def test_decoder_draws_images_from_embeddings(clip, text):
    torch.manual_seed(0)
    decoder = UNet(16, (1, 2), (1,), res_blocks=1, cond_dim=clip.config["embed_dim"]).eval()
    y_e = text[2]
    images = decode(decoder, y_e, size=16, guidance=3.0, steps=3, seed=0)
    assert images.shape == (2, 3, 16, 16) and images.abs().max() <= 1
    assert torch.equal(images, decode(decoder, y_e, size=16, guidance=3.0, steps=3, seed=0))
    with pytest.raises(ValueError, match=r"image embeddings of shape \(B, 64\)"):
        decode(decoder, y_e[:, :10], size=16)


def test_object_weights_lift_the_objects_pixels_and_keep_the_loss_scale():
    images, _, scenes = ShapesWorld(size=32, seed=0).images(range(32))
    empty = to_tensor(render([[] for _ in scenes], [s["background"] for s in scenes], 32))  # backgrounds alone
    drawn = (images - empty).abs().amax(dim=1, keepdim=True)  # (B, 1, H, W): how far the objects moved a pixel
    weight = object_weights(images, strength=8.0)
    assert weight.shape == (32, 1, 32, 32) and torch.allclose(weight.mean(dim=(1, 2, 3)), torch.ones(32))
    lifted = weight > weight.amin(dim=(2, 3), keepdim=True)
    # the objects' pixels, and hardly any other (a row more than half covered by objects misleads its median)
    assert lifted[drawn > 0.3].float().mean() > 0.99 and lifted[drawn == 0].float().mean() < 0.01
    assert torch.equal(object_weights(images, strength=0.0), torch.ones_like(weight))


def test_tune_text_trains_the_priors_own_copy_of_c_x_and_sampling_reads_it(tmp_path, clip):
    prompts = ["a small red circle", "a big blue star at the top left"]
    run = train("prior", "ci", tmp_path / "prior", steps=3, lr=1e-2, warmup=1, options={"tune_text": True}, **QUIET)
    prior = run.model.eval()
    own, frozen = clip.text_features(prompts, encoder=prior.text), clip.text_features(prompts)
    assert not torch.allclose(own[0], frozen[0])  # the copy trained; C_x itself did not
    assert torch.equal(frozen[0], frozen_clip().text_features(prompts)[0])
    pipe = MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", tmp_path / "prior", REFERENCE_DIR / "decoder")
    assert pipe.prior.text is not None  # the copy is saved and loaded with P
    before = prior_sample(prior, clip, prompts, steps=2, seed=0)
    with torch.no_grad():
        prior.text.token.weight.normal_()
    assert not torch.allclose(before, prior_sample(prior, clip, prompts, steps=2, seed=0))


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    train("prior", "ci", out / "prior", steps=30, lr=1e-3, warmup=5, **QUIET)
    train("decoder", "ci", out / "decoder", steps=20, lr=1e-3, warmup=5, **QUIET)
    # fp32 everywhere: tests below replay the pipeline's draws outside it, where a CPU with bf16
    # instructions would otherwise sample in bf16 autocast inside and fp32 outside
    return MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", out / "prior", out / "decoder", precision="fp32")


def test_tiny_text_to_image_end_to_end(tiny_pipeline):
    pipe = tiny_pipeline
    prompts = ["a small red circle", "a big blue star at the top left", "a green square and a white heart"]
    images = pipe.text_to_image(prompts, seed=0, progress=False)
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1
    assert torch.equal(images, pipe.text_to_image(prompts, seed=0, progress=False))
    assert not torch.equal(images, pipe.text_to_image(prompts, seed=1, progress=False))
    assert pipe.text_to_image("a red circle", seed=0, steps=2, prior_steps=2, progress=False).shape == (1, 3, 16, 16)


def test_colour_swap_shift_pairs_each_caption_with_its_swap_under_the_same_noise(tiny_pipeline):
    shift = colour_swap_shift(tiny_pipeline, n=8, steps=3)
    assert shift["n"] == 8 and shift["renders"] > 1e-3  # the swapped render is another scene to C_y
    assert 0 < shift["prior"] < 2
    # P without its text (guidance 0) draws the same sample for both captions: the noise is shared
    assert colour_swap_shift(tiny_pipeline, n=8, steps=3, guidance=0.0)["prior"] == pytest.approx(0, abs=1e-6)


def test_candidates_keeps_the_image_clip_lite_puts_nearest_its_prompt(tiny_pipeline):
    pipe, prompts = tiny_pipeline, ["a small red circle", "a green square and a white heart"]
    for seed in range(10):  # a seed whose best candidate is not the first everywhere, so a wrong pick would show
        generator = torch.Generator().manual_seed(seed)  # the same draws as candidates=3: 3 candidates per prompt
        pool = pipe._decode(pipe.image_embeddings(prompts * 3, generator, progress=False), generator, None, None, False)
        scores = (pipe.clip.encode_image(pool) * pipe.clip.encode_text(prompts * 3)).sum(1).view(3, 2)
        if scores.argmax(dim=0).ne(0).any():
            break
    else:
        pytest.fail("the first candidate scored best for every prompt with 10 seeds")
    best = pipe.text_to_image(prompts, seed=seed, candidates=3, progress=False)
    assert best.shape == (2, 3, 16, 16) and torch.equal(best, pipe.text_to_image(prompts, seed=seed, candidates=3,
                                                                                 progress=False))
    for b in range(2):
        assert any(torch.equal(best[b], pool[j * 2 + b]) for j in range(3))
        assert torch.equal(best[b], pool[int(scores[:, b].argmax()) * 2 + b])
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="candidates is how many images"):
            pipe.text_to_image(prompts, candidates=bad, progress=False)


def test_a_vector_conditioned_chain_draws_and_a_mismatched_prior_is_a_clear_error(tiny_pipeline, tmp_path):
    options = {"embedding": "vector"}  # the paper's y_e instead of C_y's map
    train("prior", "ci", tmp_path / "prior", steps=10, lr=1e-3, warmup=5, options=options, **QUIET)
    decoder = train("decoder", "ci", tmp_path / "decoder", steps=10, lr=1e-3, warmup=5, options=options, **QUIET)
    assert decoder.model.config["cond_grid"] == 0 and tiny_pipeline.decoder.config["cond_grid"] == 4
    pipe = MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", tmp_path / "prior", tmp_path / "decoder")
    images = pipe.text_to_image(["a small red circle", "a green square and a white heart"], seed=0, progress=False)
    assert images.shape == (2, 3, 16, 16) and images.abs().max() <= 1
    redrawn = pipe.redraw_images(images, seed=0, progress=False)  # from each image's own y_e, no prior
    assert redrawn.shape == images.shape and torch.equal(redrawn, pipe.redraw_images(images, seed=0, progress=False))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, H, W\)"):
        pipe.redraw_images(images[0])
    with pytest.raises(ValueError, match="prior draws 1536-d image embeddings but the decoder expects 64-d"):
        MakeAVideoLite(pipe.clip, tiny_pipeline.prior, pipe.decoder)
    with pytest.raises(ValueError, match="embedding must be one of"):
        train("decoder", "ci", tmp_path / "bad", steps=1, options={"embedding": "grid"}, **QUIET)


def test_claim_e_compares_map_priors_and_a_vector_baseline_is_a_clear_error(tmp_path):
    from mav_lite.claims import prior as claim_prior

    train("prior", "ci", tmp_path / "prior", steps=2, lr=1e-3, warmup=1, **QUIET)
    train("decoder", "ci", tmp_path / "decoder", steps=2, lr=1e-3, warmup=1, **QUIET)
    baseline = train("prior_regression", "ci", tmp_path / "reg", steps=2, lr=1e-3, warmup=1, **QUIET).model.eval()
    pipe = MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", tmp_path / "prior", tmp_path / "decoder")
    maps = baseline(pipe.clip.encode_text(["a small red circle", "a big blue star"]))
    assert maps.shape == (2, pipe.clip.map_dim)
    torch.testing.assert_close(maps.mean(dim=1), torch.zeros(2), atol=1e-5, rtol=0)  # standardized, as C_y's map
    result = claim_prior(pipe, baseline, n=2, prompts=1, samples=2, steps=2)
    assert -1 <= result["numbers"]["cosine to truth, regression"] <= 1
    assert result["numbers"]["embedding spread, regression"] == pytest.approx(0, abs=1e-5)  # one answer per prompt
    vector = train("prior_regression", "ci", tmp_path / "vector", steps=1, options={"embedding": "vector"},
                   **QUIET).model.eval()
    with pytest.raises(ValueError, match="draws 64-d image embeddings but the decoder expects 1536-d: train one for "
                                         "it with `mav-lite train prior_regression`"):
        claim_prior(pipe, vector, n=2)


@pytest.mark.parametrize("prompt, message", [("a crimsom circle", "did you mean 'crimson'"), ("", "empty prompt"),
                                             ([], "no prompts")])
def test_text_to_image_rejects_bad_prompts(tiny_pipeline, prompt, message):
    with pytest.raises(ValueError, match=message):
        tiny_pipeline.text_to_image(prompt, progress=False)


@pytest.mark.parametrize("embedding", ["vector", "map"])
def test_regression_prior_loss_falls(tmp_path, embedding):
    run = train("prior_regression", "ci", tmp_path / "reg", steps=60, lr=3e-3, warmup=5,
                options={"embedding": embedding}, **QUIET)
    losses = run.history["loss"]
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:5]) / 5


def test_missing_reference_folder_is_a_clear_error(tmp_path):
    from mav_lite.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="missing"):
        MakeAVideoLite.from_pretrained(tmp_path)


def test_reference_chain_draws_what_the_prompt_says():
    from mav_lite.checkpoints import load_pretrained
    from mav_lite.metrics import attribute_accuracy

    pipe = MakeAVideoLite.from_pretrained()
    prompts = ["a large red circle at the top left", "a large yellow square at the bottom right",
               "a large blue cross in the center", "a large green heart on the left",
               "a large purple diamond at the top", "a large orange hexagon on the right",
               "a large white triangle at the bottom left on a black background", "a large pink star at the bottom"]
    images = pipe.text_to_image(prompts, seed=0, progress=False)
    assert images.shape == (8, 3, 32, 32)
    accuracy = attribute_accuracy(load_pretrained("oracle")[0], images, prompts)
    assert accuracy["color"] >= 7 / 8 and accuracy["position"] >= 7 / 8 and accuracy["size"] >= 7 / 8, accuracy
    assert accuracy["shape"] >= 5 / 8, accuracy
