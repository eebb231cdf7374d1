"""GPU readiness: time and peak memory of each bot tier at several sizes, and two workers sharing one device.

python bench/gpu.py [--sizes 256 512 1024] [--weights imagenet] [--backbone vgg19] [--workers 2] [--jobs 2]
python bench/gpu.py --tiny --weights random          # CPU smoke run: 32/48 px, 2 iterations

Each tier runs as the bot runs it (bot/recipes.py): the instant network first, then, for the Gatys tiers, the
warm-started L-BFGS from its result. Peak memory is TensorFlow's device peak on a GPU (reset before each run),
else the process's peak RSS so far (it only grows). The throughput part spawns --workers processes (as the bot's pool
does) and has first one, then all of them run --jobs standard-tier jobs each at the middle size, and reports jobs
per minute. The instant network runs on onnxruntime's CPU provider in both cases.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and bench/engine.py would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = ROOT.parent / "shared" / "images"
TIER_NAMES = ("instant", "preview", "standard", "hd")
TINY_SIZES = [32, 48]
TINY_STEPS = 2


def inputs() -> tuple[Any, Any]:
    """The shared tubingen photo and starry night, else synthetic pictures (CI without ../shared)."""
    from PIL import Image

    from engine.imaging import load_image

    content, style = SHARED / "content" / "tubingen.jpg", SHARED / "styles" / "starry_night.jpg"
    if content.is_file() and style.is_file():
        return load_image(content), load_image(style)
    import numpy as np

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    painting = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return photo, painting


def peak_memory_mb(gpu: bool) -> float:
    """Device peak since the last reset on a GPU, else this process's peak RSS."""
    if gpu:
        import tensorflow as tf

        return float(tf.config.experimental.get_memory_info("GPU:0")["peak"]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def reset_peak(gpu: bool) -> None:
    """Start a new device-memory peak (GPU only)."""
    if gpu:
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")


def run_tier(stylizer: Any, tier: str, size: int, steps: int | None, content: Any, style: Any) -> dict[str, Any]:
    """One job of `tier` at `size`, as the bot runs it; seconds of the instant pass and of the whole job."""
    from bot.core.models import JobParams
    from bot.core.recipes import instant_params, style_params
    from engine.fast import fast_stylizer

    job = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
    start = time.perf_counter()
    instant = fast_stylizer().run(content, style, instant_params(job, (1.0,), quality=tier, max_side=size))
    fast_s = time.perf_counter() - start
    if tier != "instant":
        params = style_params(job, (1.0,), quality=tier, max_side=size, steps=steps)
        stylizer.run(content, style, params, init_image=instant.image)
    return {"tier": tier, "size": size, "instant_s": fast_s, "seconds": time.perf_counter() - start}


def _worker(backbone: str, weights: str, size: int, steps: int | None, orders: Any, done: Any) -> None:
    """A spawned worker: build the model, trace the size, then run each order's number of jobs (0 ends it)."""
    sys.path.insert(0, str(ROOT))
    from engine.transfer import Stylizer

    stylizer = Stylizer(backbone, weights)
    content, style = inputs()
    run_tier(stylizer, "standard", size, steps, content, style)  # trace this size outside the timing
    done.put("ready")
    while jobs := orders.get():
        for _ in range(jobs):
            run_tier(stylizer, "standard", size, steps, content, style)
        done.put("done")


def throughput(
    backbone: str, weights: str, size: int, steps: int | None, counts: list[int], jobs: int
) -> list[dict[str, Any]]:
    """Jobs per minute of each count of worker processes sharing the device, each running `jobs` jobs."""
    ctx = mp.get_context("spawn")
    done = ctx.Queue()
    orders = [ctx.Queue() for _ in range(max(counts))]
    # One set of processes for every count: the same warmed-up workers, and one start-up (TensorFlow's import and
    # the model) instead of one per count.
    procs = [ctx.Process(target=_worker, args=(backbone, weights, size, steps, q, done)) for q in orders]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            _expect(done, procs)
        rows = []
        for count in counts:
            start = time.perf_counter()
            for queue in orders[:count]:
                queue.put(jobs)
            for _ in range(count):
                _expect(done, procs)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "workers": count,
                    "jobs": count * jobs,
                    "seconds": seconds,
                    "jobs_per_min": 60 * count * jobs / seconds,
                }
            )
        return rows
    finally:
        for queue in orders:
            queue.put(0)
        for proc in procs:
            proc.join(60)


def _expect(done: Any, procs: list[Any]) -> None:
    """Wait for a worker's message; fail at once if a worker died instead."""
    import queue

    while True:
        try:
            done.get(timeout=1.0)
            return
        except queue.Empty:
            if any(proc.exitcode not in (None, 0) for proc in procs):
                raise RuntimeError(f"a worker failed: exit codes {[proc.exitcode for proc in procs]}") from None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure the tiers and the shared-device throughput; print a table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--weights", default="imagenet", help="imagenet, a weights file, or random")
    parser.add_argument("--steps", type=int, default=None, help="override every tier's iterations")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per worker in the throughput part")
    parser.add_argument("--tiny", action="store_true", help=f"sizes {TINY_SIZES}, {TINY_STEPS} iterations (CPU check)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.steps = TINY_SIZES, TINY_STEPS

    import tensorflow as tf

    from engine.transfer import Stylizer

    gpus = tf.config.list_physical_devices("GPU")
    stylizer = Stylizer(args.backbone, args.weights)  # also turns on memory growth, as the workers do
    content, style = inputs()
    device = gpus[0].name if gpus else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    report: dict[str, Any] = {"device": device, "backbone": args.backbone, "weights": args.weights, "tiers": []}
    print(f"device: {device}; {args.backbone} ({args.weights})")
    print("| tier | size | instant s | job s | peak memory MB |")
    print("|---|---:|---:|---:|---:|")
    for size in args.sizes:
        for tier in TIER_NAMES:
            run_tier(stylizer, tier, size, args.steps, content, style)  # warm-up: tracing, sessions
            reset_peak(bool(gpus))
            row = run_tier(stylizer, tier, size, args.steps, content, style)
            row["peak_mb"] = peak_memory_mb(bool(gpus))
            report["tiers"].append(row)
            print(f"| {tier} | {size} | {row['instant_s']:.2f} | {row['seconds']:.2f} | {row['peak_mb']:.0f} |")
    middle = args.sizes[len(args.sizes) // 2]
    report["throughput"] = throughput(
        args.backbone, args.weights, middle, args.steps, sorted({1, args.workers}), args.jobs
    )
    print(f"\nstandard tier at {middle} px:")
    for row in report["throughput"]:
        print(
            f"{row['workers']} worker(s): {row['jobs']} jobs in {row['seconds']:.1f} s = {row['jobs_per_min']:.1f}/min"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
