"""The style-transfer run: inputs to targets, the optimisation loop, progress, cancel and result."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image

from engine import colors
from engine.backbone import Extractor, get_extractor
from engine.compiled import CompiledSteps, Targets, compiled_for
from engine.errors import Cancelled, InvalidParamsError
from engine.imaging import ImageInput, fit_longest_side, load_as
from engine.losses import PIXEL_MAX, PIXEL_MIN, deprocess, preprocess
from engine.params import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, StyleParams
from engine.progress import Losses, Progress, RunStats
from engine.result import StyleResult

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
StopPredicate = Callable[[], bool]
MIN_LEVEL_SIDE = 32


@dataclass
class _Clock:
    """Work accounting across levels, for the elapsed time and the ETA."""

    start: float
    units_total: float
    units_done: float = 0.0
    first_step_s: float = 0.0
    first_units: float = 0.0
    step: int = 0

    def tick(self, units: float) -> None:
        """Record one finished step worth `units` of work."""
        self.step += 1
        self.units_done += units
        if self.step == 1:
            self.first_step_s = time.perf_counter() - self.start
            self.first_units = units

    def eta(self) -> float | None:
        """Seconds left, from the pace since the first step (which includes model tracing)."""
        if self.step < 2:
            return None
        pace = (time.perf_counter() - self.start - self.first_step_s) / (self.units_done - self.first_units)
        return max(0.0, pace * (self.units_total - self.units_done))


class Stylizer:
    """Runs style transfer with one backbone; the model and compiled steps are shared per process."""

    def __init__(
        self, backbone: str = "vgg19", weights: str | os.PathLike[str] = "imagenet", fast_model_dir: str | None = None
    ) -> None:
        configure_devices()
        self.backbone, self.weights = backbone, weights
        self.fast_model_dir = fast_model_dir  # the instant network's folder (None: the installed package's)
        # The seed's layers are built at once; other layer choices are built (and traced) on first use.
        self.extractor: Extractor = get_extractor(backbone, weights)
        self.compiled: CompiledSteps = compiled_for(self.extractor)

    def steps_for(self, params: StyleParams) -> tuple[Extractor, CompiledSteps]:
        """The extractor and compiled steps for the layers and pooling a run asks for."""
        extractor = get_extractor(
            self.backbone, self.weights, params.style_layers, params.content_layers, params.pooling
        )
        return extractor, compiled_for(extractor)

    def run(
        self,
        content: ImageInput,
        styles: ImageInput | Sequence[ImageInput],
        params: StyleParams | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: StopPredicate | None = None,
        *,
        report_every: int = 10,
        preview_side: int | None = None,
        init_image: ImageInput | None = None,
    ) -> StyleResult:
        """Stylise `content` with one or more `styles`; raises Cancelled when `should_stop` says so.

        `params.method == "fast"` hands the run to the process's FastStylizer. `init_image` is the start
        picture of `params.init == "image"` (any size: it is resized to the content's size).
        """
        params = params or StyleParams()
        if params.method == "fast":
            from engine.fast import fast_stylizer

            fast = fast_stylizer(self.fast_model_dir)
            return fast.run(content, styles, params, on_progress, should_stop, preview_side=preview_side)
        if (params.init == "image") != (init_image is not None):
            raise InvalidParamsError("init='image' needs an init_image, and an init_image needs init='image'")
        content_img = load_as("content", content)
        style_imgs = [load_as("style", s) for s in _as_list(styles)]
        start_img = load_as("start", init_image) if init_image is not None else None
        blend = params.blend_for(len(style_imgs))
        run = _Run(
            self,
            params,
            content_img,
            style_imgs,
            blend,
            on_progress,
            should_stop,
            report_every,
            preview_side,
            start_img,
        )
        return run.execute()


class _Run:
    """The state of one stylize call."""

    def __init__(
        self,
        stylizer: Stylizer,
        params: StyleParams,
        content: Image.Image,
        styles: list[Image.Image],
        blend: tuple[float, ...],
        on_progress: ProgressCallback | None,
        should_stop: StopPredicate | None,
        report_every: int,
        preview_side: int | None,
        init_image: Image.Image | None = None,
    ) -> None:
        self.s, self.p, self.content, self.styles, self.blend = stylizer, params, content, styles, blend
        self.extractor, self.compiled = stylizer.steps_for(params)
        self.on_progress, self.should_stop = on_progress, should_stop
        self.report_every, self.preview_side = max(1, report_every), preview_side
        self.sides = level_sides(params.max_side, params.levels)
        self.steps = split_steps(params.steps, len(self.sides))
        self.sizes = [fit_longest_side(content, side).size for side in self.sides]
        units = sum(n * w * h for n, (w, h) in zip(self.steps, self.sizes, strict=True))
        self.clock = _Clock(time.perf_counter(), float(units))
        self.losses = Losses(0.0, 0.0, 0.0, 0.0)
        self.weights = tf.constant([params.content_weight, params.effective_style_weight, params.tv_weight], tf.float32)
        self.init_image = init_image

    def execute(self) -> StyleResult:
        """Run every level, coarse to fine, and assemble the result."""
        x: np.ndarray | None = None
        best_loss = float("inf")
        for index, (steps, size) in enumerate(zip(self.steps, self.sizes, strict=True)):
            targets = self._targets(size)
            x0 = self._initial(size, x)
            optimise = self._adam if self.p.optimizer == "adam" else self._lbfgs
            x, best_loss = optimise(x0, targets, steps, index, size)
        assert x is not None
        image = Image.fromarray(deprocess(x))
        if self.p.keep_colors:
            image = colors.recombine(image, self.content)
        stats = RunStats(
            steps=self.clock.step,
            seconds=time.perf_counter() - self.clock.start,
            first_step_s=self.clock.first_step_s,
            best_loss=best_loss,
            final_losses=self.losses,
            size=image.size,
            levels=len(self.sides),
            optimizer=self.p.optimizer,
            backbone=self.extractor.backbone,
            weights=os.path.basename(self.extractor.weights),
        )
        log.info("stylized %dx%d in %.1fs (%d steps)", *image.size, stats.seconds, stats.steps)
        return StyleResult(image, stats)

    def _targets(self, size: tuple[int, int]) -> Targets:
        """Blended style Grams and content features for an output of `size`."""
        content = self.content.resize(size, Image.Resampling.LANCZOS)
        style_side = max(MIN_LEVEL_SIDE // 2, round(max(size) * self.p.style_scale))
        styles = [fit_longest_side(s, style_side) for s in self.styles]
        if self.p.keep_colors:
            styles = [colors.matched_style_luminance(s, content) for s in styles]
            content = colors.gray_rgb(colors.luminance(content))
        grams = blended_grams(self.compiled, styles, self.blend)
        _, content_feats = self.compiled.targets(preprocess(np.asarray(content)))
        return tuple(content_feats), grams

    def _initial(self, size: tuple[int, int], previous: np.ndarray | None) -> tf.Tensor:
        """The start image: the previous level upscaled, else the content, a given image or noise, plus noise."""
        rng = np.random.default_rng(self.p.seed)
        if previous is not None:
            start = np.asarray(Image.fromarray(deprocess(previous)).resize(size, Image.Resampling.BICUBIC))
        elif self.p.init == "noise":
            start = rng.uniform(0, 255, (size[1], size[0], 3))
        else:
            # Deviation (option): init="image" starts the first level from the caller's picture (e.g. the
            # instant result) resized to that level's size; later levels continue from the previous one.
            source = self.init_image if self.p.init == "image" and self.init_image is not None else self.content
            picture = source.resize(size, Image.Resampling.LANCZOS)
            start = np.asarray(colors.gray_rgb(colors.luminance(picture)) if self.p.keep_colors else picture)
        if self.p.init_noise > 0 and previous is None:
            noise = rng.uniform(0, 255, start.shape)
            start = (1 - self.p.init_noise) * start + self.p.init_noise * noise
        return preprocess(start)

    def _adam(
        self, x: tf.Tensor, targets: Targets, steps: int, level: int, size: tuple[int, int]
    ) -> tuple[np.ndarray, float]:
        """Adam from the seed: the compiled step, values read only when progress is reported."""
        m = tf.zeros_like(x)
        v = tf.zeros_like(x)
        best_x, best_loss = x, tf.constant(np.inf, tf.float32)
        adam = tf.constant([self.p.learning_rate, ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON], tf.float32)
        content_t, grams = targets
        for i in range(steps):
            self._check_stop()
            x, m, v, best_x, best_loss, losses = self.compiled.adam_step(
                x, m, v, tf.constant(float(i)), best_x, best_loss, content_t, grams, self.weights, adam
            )
            self.clock.tick(size[0] * size[1])
            if (i + 1) % self.report_every == 0 or i + 1 == steps:
                self._report(losses, x, level, size)
        return best_x.numpy(), float(best_loss)

    def _lbfgs(
        self, x: tf.Tensor, targets: Targets, steps: int, level: int, size: tuple[int, int]
    ) -> tuple[np.ndarray, float]:
        """L-BFGS-B from SciPy on the compiled loss and gradient, the pixel range as bounds."""
        shape = tuple(x.shape)
        content_t, grams = targets
        last: dict[str, tf.Tensor] = {}
        reported: list[int] = []  # steps the callback reported, so the final report is not a duplicate

        def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
            self._check_stop()
            image = tf.constant(flat.reshape(shape), tf.float32)
            losses, grad = self.compiled.loss_and_grad(image, content_t, grams, self.weights)
            last["losses"], last["x"] = losses, image
            return float(losses[0]), grad.numpy().astype(np.float64).ravel()

        def callback(xk: np.ndarray) -> None:
            self.clock.tick(size[0] * size[1])
            if self.clock.step % self.report_every == 0:
                self._report(last["losses"], tf.constant(xk.reshape(shape), tf.float32), level, size)
                reported.append(self.clock.step)

        result = lbfgs(fun, x.numpy(), steps, callback)
        final = result.x.reshape(shape).astype(np.float32)
        if not reported or reported[-1] != self.clock.step:
            self._report(last["losses"], tf.constant(final), level, size)
        return final, float(result.fun)

    def _check_stop(self) -> None:
        """Raise Cancelled if the caller asked to stop."""
        if self.should_stop is not None and self.should_stop():
            raise Cancelled(self.clock.step)

    def _report(self, losses: tf.Tensor, x: tf.Tensor, level: int, size: tuple[int, int]) -> None:
        """Read the losses off the device and call the progress callback."""
        total, content, style, tv = (float(v) for v in np.asarray(losses))
        self.losses = Losses(total, content, style, tv)
        if self.on_progress is None:
            return
        preview = None
        if self.preview_side:
            preview = fit_longest_side(Image.fromarray(deprocess(x)), min(self.preview_side, max(size)))
        self.on_progress(
            Progress(
                step=self.clock.step,
                total=sum(self.steps),
                losses=self.losses,
                elapsed_s=time.perf_counter() - self.clock.start,
                eta_s=self.clock.eta(),
                level=level + 1,
                levels=len(self.sides),
                size=size,
                preview=preview,
            )
        )


def lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    steps: int,
    callback: Callable[[np.ndarray], None] | None = None,
) -> Any:
    """SciPy's L-BFGS-B for `steps` iterations from `start` (VGG space), the pixel range as bounds; its result.

    `fun` takes and returns flat float64 arrays. No tolerance stops it early: the budget is the steps, and at most
    two loss evaluations a step (the line search).
    """
    from scipy.optimize import Bounds, minimize

    pixels = int(np.prod(start.shape[1:3]))
    bounds = Bounds(np.tile(PIXEL_MIN, pixels).astype(np.float64), np.tile(PIXEL_MAX, pixels))
    options = {"maxiter": steps, "maxfun": steps * 2, "ftol": 0.0, "gtol": 0.0}
    x0 = start.astype(np.float64).ravel()
    return minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback, options=options)


def blended_grams(
    compiled: CompiledSteps, styles: Sequence[Image.Image], blend: Sequence[float]
) -> tuple[tf.Tensor, ...]:
    """The style layers' Gram matrices of `styles` (already at their size), blended by `blend`."""
    grams: list[tf.Tensor] | None = None
    for style, weight in zip(styles, blend, strict=True):
        style_grams, _ = compiled.targets(preprocess(np.asarray(style)))
        scaled = [weight * g for g in style_grams]
        grams = scaled if grams is None else [a + b for a, b in zip(grams, scaled, strict=True)]
    # Deviation (option): several styles blend their Gram matrices; with weights summing to 1 this
    # has the same gradient as a weighted sum of per-style losses, at the cost of one.
    assert grams is not None
    return tuple(grams)


def level_sides(max_side: int, levels: int) -> list[int]:
    """Longest side of each level, coarse to fine, halving from max_side; levels too small are dropped."""
    sides = [max_side // 2**k for k in range(levels - 1, -1, -1)]
    return [s for s in sides if s >= MIN_LEVEL_SIDE] or [max_side]


def split_steps(steps: int, levels: int) -> list[int]:
    """Share `steps` between levels as evenly as possible, the finest level taking any remainder."""
    base = [max(1, steps // levels)] * levels
    base[-1] = max(1, steps - sum(base[:-1]))
    return base


def _as_list(styles: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """One style or several: bytes and strings are single images, lists and tuples are several."""
    if isinstance(styles, list | tuple):
        if not styles:
            raise ValueError("at least one style image is needed")
        return list(styles)
    return [styles]  # type: ignore[list-item]


@functools.cache
def configure_devices() -> None:
    """Let TensorFlow grow GPU memory as needed, so several workers can share a GPU (GPU only)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this process: the setting is fixed by then
            log.debug("GPU memory growth already fixed for %s", gpu.name)


@functools.lru_cache(maxsize=4)
def _stylizer(backbone: str, weights: str) -> Stylizer:
    """One Stylizer per backbone and weights per process."""
    return Stylizer(backbone, weights)


def stylize(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    params: StyleParams | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: StopPredicate | None = None,
    *,
    backbone: str = "vgg19",
    weights: str | os.PathLike[str] = "imagenet",
    report_every: int = 10,
    preview_side: int | None = None,
    init_image: ImageInput | None = None,
) -> StyleResult:
    """Stylise `content` in the style of `styles`; the model is built on first use and then reused.

    `params.method == "fast"` runs the instant network and never builds the VGG backbone.
    """
    if params is not None and params.method == "fast":
        from engine.fast import fast_stylizer

        return fast_stylizer().run(content, styles, params, on_progress, should_stop, preview_side=preview_side)
    stylizer = _stylizer(backbone, os.fspath(weights))
    return stylizer.run(
        content,
        styles,
        params,
        on_progress,
        should_stop,
        report_every=report_every,
        preview_side=preview_side,
        init_image=init_image,
    )
