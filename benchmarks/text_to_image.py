"""Text-to-image with the reference weights: quality (attribute oracle, CLIPSIM-lite, FID-lite) and speed.

    python benchmarks/text_to_image.py [--n 64] [--steps 25] [--prior-steps 25] [--guidance 3] [--prior-guidance 2]
                                       [--prior runs/prior-long] [--decoder runs/decoder] [--clip runs/clip]
                                       [--true-embedding] [--candidates 4] [--seeds 4]

Prints the oracle's own accuracy on real renders, then, for n prompts in each group (one object,
two objects, held-out compositions), what the oracle reads in the generated images against the
issue's goals (two objects: also the share with two objects, with both colours, with both shapes),
CLIPSIM-lite beside real renders, FID-lite beside the real-vs-real floor, how far swapping a
two-object caption's colours moves P's sample against how far it moves the renders' embedding (a P
that reads the caption as a bag of words hardly moves), and the time to draw 8 prompts at once.
--true-embedding skips the prior: D draws each prompt from its own render's image embedding, which
says how much of what is lost is lost in D. --candidates K keeps the best of K images per prompt by
CLIP-lite's score (CLIPSIM-lite is then no longer an independent judge: it picked the images).
--seeds K also draws the n two-object prompts with seeds 0..K-1 and says how many each seed binds,
how many at least one seed binds and how many every seed binds (how much is the luck of the noise).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


from mav_lite import MakeAVideoLite
from mav_lite.checkpoints import REFERENCE_DIR, load_card, load_pretrained
from mav_lite.data import ShapesWorld
from mav_lite.evaluation import GOALS, GROUPS, binding_over_seeds, colour_swap_shift, draw, text_to_image_report
from mav_lite.system import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="prompts per group")
    parser.add_argument("--steps", type=int, default=None, help="decoder DDIM steps (default: the preset's)")
    parser.add_argument("--prior-steps", type=int, default=None, help="prior DDIM steps (default: the preset's)")
    parser.add_argument("--guidance", type=float, default=None, help="decoder guidance (default: the preset's)")
    parser.add_argument("--prior-guidance", type=float, default=None, help="prior guidance (default: the preset's)")
    parser.add_argument("--prior", type=Path, default=REFERENCE_DIR / "prior",
                        help="the prior's checkpoint folder (default: the reference; a run folder judges a candidate)")
    parser.add_argument("--decoder", type=Path, default=REFERENCE_DIR / "decoder",
                        help="the decoder's checkpoint folder (default: the reference; pass its own --prior with it)")
    parser.add_argument("--clip", type=Path, default=None,
                        help="the CLIP-lite folder (default: the reference's with the reference prior, else the "
                             "one the prior was trained on, as its card says)")
    parser.add_argument("--true-embedding", action="store_true",
                        help="D draws from each prompt's own render's embedding, not the prior's sample")
    parser.add_argument("--candidates", type=int, default=1, help="images drawn per prompt, the best by CLIP-lite kept")
    parser.add_argument("--seeds", type=int, default=1,
                        help="K > 1: also draw the two-object prompts with K seeds and report binding per seed")
    args = parser.parse_args()
    print(describe_machine())
    reference_prior = args.prior.resolve() == (REFERENCE_DIR / "prior").resolve()  # the references belong together
    clip = args.clip or (REFERENCE_DIR / "clip" if reference_prior
                         else load_card(args.prior, "prior")["identity"]["options"]["clip"] or REFERENCE_DIR / "clip")
    pipe = MakeAVideoLite.from_folders(clip, args.prior, args.decoder)
    oracle, _ = load_pretrained("oracle")
    world = ShapesWorld(size=pipe.image_size, seed=11)
    images, _, scenes = world.images(range(512))
    held, _, held_scenes = world.images(range(128), split="held_out")
    print("\n| oracle on real renders | count | objects | position | size |\n| --- | --- | --- | --- | --- |")
    for name, (ims, scs) in {"seen": (images, scenes), "held-out": (held, held_scenes)}.items():
        acc = oracle.accuracy(ims, scs)
        print(f"| {name} | " + " | ".join(f"{acc[k]:.1%}" for k in ("count", "objects", "position", "size")) + " |")

    sampling = {"steps": args.steps, "prior_steps": args.prior_steps, "guidance": args.guidance,
                "prior_guidance": args.prior_guidance, "candidates": args.candidates}
    report = text_to_image_report(pipe, oracle, n=args.n, true_embedding=args.true_embedding, **sampling)
    source = "from the true embedding" if args.true_embedding else "generated"
    print(f"\n| group ({args.n} prompts each) | measure | {source} | goal |\n| --- | --- | --- | --- |")
    for group in GROUPS:
        r = report[group]
        for key, goal in GOALS[group].items():
            print(f"| {group} | {key} | {r[key]:.1%} | >= {goal:.0%} |")
        if group == "two objects":  # what binding needs, each on its own
            for key, what in (("count", "two objects"), ("colors", "both colours"), ("shapes", "both shapes")):
                print(f"| {group} | {what} | {r[key]:.1%} | - |")
        print(f"| {group} | CLIPSIM-lite (real: {r['clipsim_real']:.3f}) | {r['clipsim']:.3f} "
              f"({r['clipsim'] / r['clipsim_real']:.2f}x) | >= 0.9x |")
    print(f"| all | FID-lite ({3 * args.n} vs {3 * args.n}; real-vs-real floor {report['fid_floor']:.2f}) "
          f"| {report['fid']:.2f} | - |")

    if not args.true_embedding:  # does P give each object its own colour? (no D involved)
        shift = colour_swap_shift(pipe, n=args.n, steps=args.prior_steps, guidance=args.prior_guidance)
        print(f"\nswapping the two colours of {shift['n']} two-object scenes moves P's sample by {shift['prior']:.4f} "
              f"(1 - cosine, same noise) and the renders' embedding by {shift['renders']:.4f}")

    if args.seeds > 1:
        over = binding_over_seeds(pipe, oracle, n=args.n, seeds=args.seeds, true_embedding=args.true_embedding,
                                  **sampling)
        print(f"\nbinding of the {args.n} two-object prompts with seeds 0-{args.seeds - 1}: "
              + " / ".join(f"{b:.1%}" for b in over["per_seed"])
              + f" (mean {sum(over['per_seed']) / args.seeds:.1%}); bound by at least one seed {over['any']:.1%}, "
              f"by every seed {over['all']:.1%}")

    prompts = [s["caption"] for s in scenes[:8]]
    draw(pipe, images[:1], prompts[:1], true_embedding=args.true_embedding, **sampling)  # warm-up
    start = time.perf_counter()
    draw(pipe, images[:8], prompts, true_embedding=args.true_embedding, **sampling)
    what = "8 renders redrawn by D" if args.true_embedding else "8 prompts"
    print(f"\n{what} -> 8 images of {pipe.image_size}^2: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
