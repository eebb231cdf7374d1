"""Calibrate the bot's tiers: warm-started L-BFGS against the instant network, on the pretrained features.

python bench/calibrate_tiers.py [--quality standard] [--strength medium] [--side 512] [--iterations 100]
                                [--checkpoints 10 20 30 40 60 80 100] [--style-weights 1.0 3.0]

For each pair, the instant result at the tier's size is the start (init="image", as the bot runs it); one
L-BFGS run of --iterations records a snapshot at every iteration, and the checkpoints are measured afterwards
(outside the timings): style ratio (bench/metrics.py; lower = more of the painting's Gram statistics) and
HED edge agreement with the photo (higher = structure kept). The instant result itself is the bar to meet.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and bench/engine.py would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from engine.imaging import fit_longest_side, load_image  # noqa: E402
from engine.progress import Progress  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
PAIRS = ("tubingen:starry_night", "golden_gate:great_wave")


def main() -> None:
    """Measure each checkpoint of the warm-started tier recipe against the instant result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--strength", default="medium", choices=("low", "medium", "high"))
    parser.add_argument("--side", type=int, default=None, help="the tier's size unless given")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10, 20, 30, 40, 60, 80, 100])
    parser.add_argument("--style-weights", type=float, nargs="+", default=[1.0])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from bench.metrics import StyleProbe
    from bot.core.models import JobParams
    from engine.fast import FastStylizer
    from engine.transfer import Stylizer
    from testing.hed_weights import hed_vgg16_weights

    weights = str(hed_vgg16_weights())
    stylizer, fast, probe = Stylizer("vgg16", weights), FastStylizer(), StyleProbe(weights)
    job = JobParams(quality="standard", strength=args.strength, keep_colors=False, seed=0)
    rows: list[dict[str, Any]] = []
    print(f"quality {args.quality}, strength {args.strength}, HED VGG16 features")
    print("| pair | style weight | iterations | seconds | style ratio | edge agreement |")
    print("|---|---:|---:|---:|---:|---:|")
    for pair in args.pairs:
        rows.extend(measure_pair(pair, job, args, stylizer, fast, probe))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


def measure_pair(pair: str, job: Any, args: argparse.Namespace, stylizer: Any, fast: Any, probe: Any) -> list[dict]:
    """The instant bar and the warm-started recipe's checkpoints for one photo:painting pair."""
    from bench.metrics import edge_agreement
    from bot.core.recipes import instant_params, style_params

    rows: list[dict[str, Any]] = []
    content_name, style_name = pair.split(":")
    photo_full = load_image(SHARED / "content" / f"{content_name}.jpg")
    style = load_image(SHARED / "styles" / f"{style_name}.jpg")
    fast_params = instant_params(job, (1.0,), quality=args.quality, max_side=args.side)
    photo = fit_longest_side(photo_full, fast_params.max_side)
    fast.run(photo, style, fast_params)
    instant = fast.run(photo, style, fast_params)
    bar = {"ratio": probe.ratio(instant.image, photo, style), "edges": edge_agreement(instant.image, photo)}
    row = [pair, "instant", 0, instant.stats.seconds, bar["ratio"], bar["edges"]]
    rows.append(dict(zip(("pair", "weight", "its", "seconds", "ratio", "edges"), row, strict=True)))
    print(f"| {pair} | instant | - | {instant.stats.seconds:.2f} | {bar['ratio']:.3f} | {bar['edges']:.3f} |")
    for weight in args.style_weights:
        params = style_params(job, (1.0,), quality=args.quality, max_side=args.side, style_weight=weight)
        params = params.replace(steps=args.iterations)
        snaps: list[tuple[int, float, Any]] = []

        def keep(p: Progress, snaps: list[tuple[int, float, Any]] = snaps) -> None:
            if p.level == p.levels and p.preview is not None:
                snaps.append((p.step, p.elapsed_s, p.preview))

        stylizer.run(photo, style, params.replace(steps=params.levels), init_image=instant.image)  # trace
        start = time.perf_counter()
        stylizer.run(photo, style, params, keep, report_every=1, preview_side=params.max_side, init_image=instant.image)
        total = time.perf_counter() - start
        for its in args.checkpoints:
            hits = [s for s in snaps if s[0] >= its]
            if not hits:
                continue
            step, elapsed, image = hits[0]
            ratio, edges = probe.ratio(image, photo, style), edge_agreement(image, photo)
            seconds = instant.stats.seconds + elapsed
            rows.append(
                {"pair": pair, "weight": weight, "its": step, "seconds": seconds, "ratio": ratio, "edges": edges}
            )
            ok = "ok" if ratio <= bar["ratio"] and edges >= bar["edges"] else ""
            print(f"| {pair} | {weight:g} | {step} | {seconds:.1f} | {ratio:.3f} | {edges:.3f} {ok} |")
        print(f"| {pair} | {weight:g} | run of {args.iterations} | {total:.1f} | | |")
    return rows


if __name__ == "__main__":
    main()
