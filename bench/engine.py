"""Benchmark: the seed tutorial's eager Adam loop against our compiled step (engine.compiled).

Run from the repository root::

    python bench/engine.py [--sizes 256 512] [--steps 8] [--backbone vgg19] [--weights random|PATH]
                           [--plot docs/benchmark_loss_vs_time.png] [--plot-steps 60]

Each (loop, size) pair runs in its own subprocess (``--only seed|compiled --size S``) so its peak RSS
is its own; the child prints one JSON line on stdout. The parent prints the table and, with --plot,
a loss-against-time plot of both loops at 256 px (by default with the pretrained HED VGG16 from
testing/hed_weights.py, so the losses mean something).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and its name would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
CONTENT = ROOT.parent / "shared" / "images" / "content" / "tubingen.jpg"
STYLE = ROOT.parent / "shared" / "images" / "styles" / "starry_night.jpg"
WARMUP = 2
RESULT_TAG = "BENCH_RESULT "
LOOPS = ("seed", "compiled", "both")

log = logging.getLogger("bench")


# --------------------------------------------------------------------------------------------------
# Inputs shared by both loops
# --------------------------------------------------------------------------------------------------


def _images(size: int) -> tuple[Any, Any, str]:
    """Content and style PIL images (longest side `size`): the shared photos, else synthetic ones."""
    import numpy as np
    from PIL import Image

    from engine.imaging import fit_longest_side

    if CONTENT.is_file() and STYLE.is_file():
        content = fit_longest_side(Image.open(CONTENT).convert("RGB"), size)
        style = fit_longest_side(Image.open(STYLE).convert("RGB"), size)
        return content, style, "tubingen.jpg + starry_night.jpg"
    rng = np.random.default_rng(0)
    h = size * 3 // 4
    yy, xx = np.mgrid[0:h, 0:size]
    content = np.stack([xx * 255 / size, yy * 255 / h, np.full_like(xx, 128.0)], -1)
    style = rng.uniform(0, 255, (h, size, 3))
    return Image.fromarray(content.astype("uint8")), Image.fromarray(style.astype("uint8")), "synthetic"


def _weights_arg(weights: str) -> str | None:
    """What keras.applications takes for our weights spec (random -> None)."""
    return None if weights == "random" else weights


# --------------------------------------------------------------------------------------------------
# (a) The seed tutorial's loop, eager, as the tutorial wrote it
# --------------------------------------------------------------------------------------------------


def seed_loop(size: int, backbone: str, weights: str) -> tuple[Any, tuple[int, int]]:  # noqa: PLR0915 (tutorial code, kept as written)
    """The tutorial's get_model / compute_loss / run_style_transfer, eagerly; returns a one-step function.

    The step function runs one iteration of the tutorial's loop body and returns the loss (a float).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from engine.backbone import CONTENT_LAYERS, STYLE_LAYERS
    from engine.losses import deprocess, preprocess
    from engine.params import ADAM_BETA_1, ADAM_EPSILON, SEED_CONTENT_WEIGHT, SEED_LEARNING_RATE, SEED_STYLE_WEIGHT

    keras.utils.set_random_seed(0)  # with --weights random: the same initial weights as the compiled loop
    factory = keras.applications.VGG19 if backbone == "vgg19" else keras.applications.VGG16
    vgg = factory(include_top=False, weights=_weights_arg(weights))
    vgg.trainable = False
    style_outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS]
    content_outputs = [vgg.get_layer(name).output for name in CONTENT_LAYERS]
    model = keras.Model(vgg.input, style_outputs + content_outputs)
    for layer in model.layers:
        layer.trainable = False
    n_style = len(STYLE_LAYERS)

    def gram_matrix(input_tensor: tf.Tensor) -> tf.Tensor:
        channels = int(input_tensor.shape[-1])
        a = tf.reshape(input_tensor, [-1, channels])
        n = tf.shape(a)[0]
        gram = tf.matmul(a, a, transpose_a=True)
        return gram / tf.cast(n, tf.float32)

    def get_style_loss(base_style: tf.Tensor, gram_target: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(gram_matrix(base_style) - gram_target))

    def get_content_loss(base_content: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(base_content - target))

    content_img, style_img, _ = _images(size)
    content_pre = preprocess(np.asarray(content_img))
    style_pre = preprocess(np.asarray(style_img))
    # get_feature_representations
    style_features = [layer[0] for layer in model(style_pre)[:n_style]]
    content_features = [layer[0] for layer in model(content_pre)[n_style:]]
    gram_style_features = [gram_matrix(f) for f in style_features]

    def compute_loss(init_image: tf.Variable) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        model_outputs = model(init_image)
        style_output_features = model_outputs[:n_style]
        content_output_features = model_outputs[n_style:]
        style_score = 0.0
        content_score = 0.0
        weight_per_style_layer = 1.0 / float(n_style)
        for target_style, comb_style in zip(gram_style_features, style_output_features, strict=True):
            style_score += weight_per_style_layer * get_style_loss(comb_style[0], target_style)
        weight_per_content_layer = 1.0 / float(len(CONTENT_LAYERS))
        for target_content, comb_content in zip(content_features, content_output_features, strict=True):
            content_score += weight_per_content_layer * get_content_loss(comb_content[0], target_content)
        style_score *= SEED_STYLE_WEIGHT
        content_score *= SEED_CONTENT_WEIGHT
        return style_score + content_score, style_score, content_score

    def compute_grads(init_image: tf.Variable) -> tuple[tf.Tensor, tuple[tf.Tensor, ...]]:
        with tf.GradientTape() as tape:
            all_loss = compute_loss(init_image)
        total_loss = all_loss[0]
        return tape.gradient(total_loss, init_image), all_loss

    init_image = tf.Variable(content_pre, dtype=tf.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=SEED_LEARNING_RATE, beta_1=ADAM_BETA_1, epsilon=ADAM_EPSILON)
    norm_means = np.array([103.939, 116.779, 123.68])
    min_vals, max_vals = -norm_means, 255 - norm_means
    state: dict[str, Any] = {"best_loss": float("inf"), "best_img": None}

    def step() -> float:
        grads, all_loss = compute_grads(init_image)
        loss, _style_score, _content_score = all_loss
        opt.apply_gradients([(grads, init_image)])
        clipped = tf.clip_by_value(init_image, min_vals, max_vals)
        init_image.assign(clipped)
        if loss < state["best_loss"]:
            state["best_loss"] = loss
            state["best_img"] = deprocess(init_image.numpy())
        return float(loss)

    return step, (int(content_pre.shape[1]), int(content_pre.shape[2]))


def compiled_loop(size: int, backbone: str, weights: str) -> tuple[Any, tuple[int, int]]:
    """CompiledSteps.adam_step called as engine.transfer's Adam loop calls it; returns a one-step function."""
    import keras
    import numpy as np
    import tensorflow as tf

    from engine.losses import preprocess
    from engine.params import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, StyleParams
    from engine.transfer import Stylizer

    keras.utils.set_random_seed(0)
    stylizer = Stylizer(backbone, weights)
    steps = stylizer.compiled
    p = StyleParams(max_side=size)
    content_img, style_img, _ = _images(size)
    grams, _ = steps.targets(preprocess(np.asarray(style_img)))
    _, content_t = steps.targets(preprocess(np.asarray(content_img)))
    x = preprocess(np.asarray(content_img))
    weights_t = tf.constant([p.content_weight, p.effective_style_weight, p.tv_weight], tf.float32)
    adam = tf.constant([p.learning_rate, ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON], tf.float32)
    st: dict[str, Any] = {"x": x, "m": tf.zeros_like(x), "v": tf.zeros_like(x), "best_x": x, "i": 0}
    st["best_loss"] = tf.constant(np.inf, tf.float32)

    def step() -> float:
        out = steps.adam_step(
            st["x"], st["m"], st["v"], tf.constant(float(st["i"])), st["best_x"], st["best_loss"],
            tuple(content_t), tuple(grams), weights_t, adam,
        )  # fmt: skip
        st["x"], st["m"], st["v"], st["best_x"], st["best_loss"], losses = out
        st["i"] += 1
        return float(losses[0])

    return step, (int(x.shape[1]), int(x.shape[2]))


def run_seed(size: int, steps: int, backbone: str, weights: str) -> dict[str, Any]:
    """(a) alone in this process: model build, targets and steps, each step timed."""
    t_start = time.perf_counter()
    step, shape = seed_loop(size, backbone, weights)
    durations, trace, first_step_s = [], [], 0.0
    t_loop = time.perf_counter()
    for i in range(steps + WARMUP):
        t0 = time.perf_counter()
        loss = step()
        t1 = time.perf_counter()
        durations.append(t1 - t0)
        trace.append((t1 - t_loop, loss))
        if i == 0:
            first_step_s = t1 - t_start
    return _summary("seed", size, steps, durations, first_step_s, trace, shape)


def run_interleaved(size: int, steps: int, backbone: str, weights: str) -> dict[str, Any]:
    """(a) and (b) in one process, steps alternating, so both see the same (shared-machine) load."""
    loops = {"seed": seed_loop(size, backbone, weights)[0], "compiled": compiled_loop(size, backbone, weights)[0]}
    durations: dict[str, list[float]] = {k: [] for k in loops}
    trace: dict[str, list[tuple[float, float]]] = {k: [] for k in loops}
    for i in range(steps + WARMUP):
        for name in ("seed", "compiled") if i % 2 == 0 else ("compiled", "seed"):
            t0 = time.perf_counter()
            loss = loops[name]()
            durations[name].append(time.perf_counter() - t0)
            trace[name].append((sum(durations[name]), loss))  # cumulative time spent in this loop
    med = {k: statistics.median(d[WARMUP:]) for k, d in durations.items()}
    return {"size": size, "steps": steps, "median_s": med, "ratio": med["seed"] / med["compiled"], "trace": trace}


# --------------------------------------------------------------------------------------------------
# (b) Our compiled step, through the real run loop
# --------------------------------------------------------------------------------------------------


def run_compiled(size: int, steps: int, backbone: str, weights: str) -> dict[str, Any]:
    """engine.transfer.Stylizer(...).run(...) with the classic recipe; per-step times from progress."""
    t_start = time.perf_counter()
    import keras

    from engine.params import StyleParams
    from engine.transfer import Stylizer

    keras.utils.set_random_seed(0)
    stylizer = Stylizer(backbone, weights)
    content_img, style_img, _ = _images(size)
    stamps: list[tuple[float, float]] = []
    first: dict[str, float] = {}

    def on_progress(p: Any) -> None:
        now = time.perf_counter()
        if p.step == 1:
            first["s"] = now - t_start
        stamps.append((now, p.losses.total))

    t_loop = time.perf_counter()
    result = stylizer.run(
        content_img, style_img, StyleParams(steps=steps + WARMUP, max_side=size), on_progress, report_every=1
    )
    # Step i's duration: from the previous progress call (or the run's start) to this one. The first
    # includes the targets and the trace of adam_step; it is excluded by the warm-up like the seed's.
    times = [t_loop] + [t for t, _ in stamps]
    durations = [b - a for a, b in itertools.pairwise(times)]
    trace = [(t - t_loop, loss) for t, loss in stamps]
    shape = (result.image.size[1], result.image.size[0])
    return _summary("compiled", size, steps, durations, first["s"], trace, shape)


def _summary(
    loop: str,
    size: int,
    steps: int,
    durations: list[float],
    first_step_s: float,
    trace: list[tuple[float, float]],
    shape: tuple[int, int],
) -> dict[str, Any]:
    """The child's JSON result: median step time after warm-up, first-step time, peak RSS, loss trace."""
    import psutil

    mem = psutil.Process().memory_info()
    peak = getattr(mem, "peak_wset", None) or _peak_rss_linux() or mem.rss
    timed = durations[WARMUP:]
    return {
        "loop": loop,
        "size": size,
        "shape": list(shape),
        "steps": len(timed),
        "median_s": statistics.median(timed),
        "min_s": min(timed),
        "max_s": max(timed),
        "first_step_s": first_step_s,
        "peak_rss_mb": peak / 2**20,
        "trace": trace,
    }


def _peak_rss_linux() -> int | None:
    """VmHWM (the process's peak resident set) in bytes, from /proc; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------------------------------
# Parent: subprocesses, table, plot
# --------------------------------------------------------------------------------------------------


def _child(loop: str, size: int, steps: int, backbone: str, weights: str) -> dict[str, Any]:
    """Run one (loop, size) measurement in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", loop, "--size", str(size)]
    cmd += ["--steps", str(steps), "--backbone", backbone, "--weights", weights]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log.info("running %s at %d px (%d steps + %d warm-up)", loop, size, steps, WARMUP)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    sys.stderr.write(proc.stderr[-4000:])
    raise RuntimeError(f"{loop} at {size} px failed (exit {proc.returncode})")


def _table(rows: list[tuple[dict[str, Any], ...]], backbone: str, weights: str, steps: int) -> str:
    """The result table as fixed-width text: one row per size."""
    cols = (
        "size  image     | alone: seed s/step  compiled s/step  speed-up | interleaved: seed s/step  compiled s/step"
        "  speed-up | 1st step: seed  compiled | peak RSS: seed  compiled"
    )
    lines = [
        f"backbone {backbone}, weights {os.path.basename(weights)}, median of {steps} steps after {WARMUP} warm-up",
        cols,
        "-" * len(cols),
    ]
    for seed, comp, both in rows:
        h, w = seed["shape"]
        ms = both["median_s"]
        lines.append(
            f"{seed['size']:<5} {w:>3}x{h:<5} | {seed['median_s']:>18.3f}  {comp['median_s']:>15.3f}  "
            f"{seed['median_s'] / comp['median_s']:>7.2f}x | {ms['seed']:>24.3f}  {ms['compiled']:>15.3f}  "
            f"{both['ratio']:>7.2f}x | {seed['first_step_s']:>13.1f}s  {comp['first_step_s']:>7.1f}s | "
            f"{seed['peak_rss_mb']:>11.0f} MB  {comp['peak_rss_mb']:>5.0f} MB"
        )
    return "\n".join(lines) + "\n"


def _plot(path: Path, both: dict[str, Any], label: str) -> None:
    """Loss (log scale) against the time spent in each loop (interleaved run), both loops on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    for key, name in (("seed", "seed tutorial loop (eager)"), ("compiled", "engine compiled step")):
        t, loss = zip(*both["trace"][key], strict=True)
        ax.plot(t, loss, marker=".", markersize=3, label=f"{name}: median {both['median_s'][key]:.2f} s/step")
    ax.set_yscale("log")
    ax.set_xlabel("cumulative step time [s] (step 1 includes the compiled step's trace)")
    ax.set_ylabel("total loss (content + style)")
    ax.set_title(label, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _resolve_plot_weights(spec: str) -> str:
    """'hed' -> the pretrained HED VGG16 weights file (written once by testing/hed_weights.py)."""
    if spec != "hed":
        return spec
    from testing.hed_weights import hed_vgg16_weights

    return str(hed_vgg16_weights())


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; a child measures one loop, the parent runs them all and reports."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per run (after 2 warm-up steps)")
    ap.add_argument("--backbone", default="vgg19", choices=["vgg19", "vgg16"])
    ap.add_argument("--weights", default="random", help="'random' or a Keras weights file for the backbone")
    ap.add_argument("--plot", type=Path, default=None, help="write a loss-vs-time PNG at 256 px")
    ap.add_argument("--plot-steps", type=int, default=60)
    ap.add_argument("--plot-backbone", default="vgg16", choices=["vgg19", "vgg16"])
    ap.add_argument("--plot-weights", default="hed", help="'hed' (pretrained VGG16), 'random' or a path")
    ap.add_argument("--only", choices=["seed", "compiled", "both"], help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.only:
        fn = {"seed": run_seed, "compiled": run_compiled, "both": run_interleaved}[args.only]
        res = fn(args.size, args.steps, args.backbone, args.weights)
        sys.stdout.write(RESULT_TAG + json.dumps(res) + "\n")
        return 0

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    rows = []
    for size in args.sizes:
        rows.append(tuple(_child(loop, size, args.steps, args.backbone, args.weights) for loop in LOOPS))
    _, _, source = _images(16)
    out = [f"python {platform.python_version()}, {os.cpu_count()} CPUs, inputs: {source}"]
    out.append(_table(rows, args.backbone, args.weights, args.steps).rstrip())
    if args.plot:
        weights = _resolve_plot_weights(args.plot_weights)
        both = _child("both", 256, args.plot_steps - WARMUP, args.plot_backbone, weights)
        label = f"256 px, {args.plot_backbone} ({os.path.basename(weights)}), {args.plot_steps} Adam steps, interleaved"
        _plot(args.plot, both, label)
        ms = both["median_s"]
        lows = {k: min(loss for _, loss in v) for k, v in both["trace"].items()}
        out.append(
            f"plot: {args.plot} ({label}): seed {ms['seed']:.3f} s/step, compiled {ms['compiled']:.3f} s/step, "
            f"speed-up {both['ratio']:.2f}x; lowest loss seed {lows['seed']:.4g}, compiled {lows['compiled']:.4g}"
        )
    load_after = os.getloadavg()
    out.append(
        f"total {time.perf_counter() - t0:.0f}s; 1-min load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
