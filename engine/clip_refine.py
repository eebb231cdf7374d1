"""Optional Gatys refinement of clip frames (Ruder et al. 2016, "Artistic style transfer for videos").

Each blended frame of the clip method (engine/clip.py) is the start of a few optimisation steps of the photo
path's loss (content: the source frame's features; style: the clip's Gram targets, computed once per clip; total
variation) plus Ruder et al.'s short-term temporal term, weight * mean(c * (x - warped)^2), where `warped` is
the previous *refined* output warped onto this frame by the source's flow and c its visibility (zero on the
first frame and after a scene cut). The compiled loss is CompiledSteps.guided_loss_and_grad: one trace for
every frame. TensorFlow is imported here, so engine.clip imports this module only when refinement is asked for.

Deviations from Ruder et al. (each also marked where it is made):
- Start: the blended frame (the warped previous output where visible, the fresh instant painting elsewhere)
  instead of the warped previous result alone; the first frame starts from the instant painting, not noise.
- A few L-BFGS iterations per frame (the engine's tiers' optimiser from a warm start) instead of their
  1000-2000; the start already holds the painting, so the steps only refine it.
- The temporal term is a mean over pixels and channels, not their sum over D (same thing up to the weight, which
  then means the same at every frame size); c comes from the pipeline's DIS flow and forward-backward check
  (engine/flow.py), not DeepFlow/EpicFlow with their motion-boundary test; no long-term term, no multi-pass.
- The style Grams are computed once, at the first frame's size (the frames of a clip all have that size).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from engine import colors
from engine.clip import Guide
from engine.errors import Cancelled
from engine.imaging import fit_longest_side
from engine.losses import deprocess, preprocess
from engine.params import StyleParams
from engine.transfer import MIN_LEVEL_SIDE, Stylizer, blended_grams, lbfgs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefineStats:
    """One frame's refinement: the optimised loss (Gatys + temporal) at the start and at the end."""

    start_loss: float
    end_loss: float
    evaluations: int


class FrameRefiner:
    """Refines blended clip frames with a few L-BFGS steps of the Gatys loss plus the temporal term."""

    def __init__(
        self,
        stylizer: Stylizer,
        styles: Sequence[Image.Image],
        params: StyleParams,
        steps: int,
        temporal_weight: float,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.extractor, self.compiled = stylizer.steps_for(params)
        self.styles, self.blend, self.params = list(styles), params.blend_for(len(styles)), params
        self.steps = steps
        self.weights = tf.constant([params.content_weight, params.effective_style_weight, params.tv_weight], tf.float32)
        self.temporal_weight = tf.constant(temporal_weight, tf.float32)
        self.grams: tuple[tf.Tensor, ...] | None = None
        self.last: RefineStats | None = None
        # Asked before every loss evaluation: a cancel need not wait for the frame (seconds a frame on a CPU).
        self.should_stop = should_stop
        self.frames = 0

    def refine(self, source: np.ndarray, start: np.ndarray, guide: Guide | None) -> np.ndarray:
        """The refined frame (uint8 RGB) of `source`, starting from `start` (the blended frame)."""
        content_feats, x0, warped, mask = self.problem(source, start, guide)
        shape = tuple(x0.shape)
        seen: list[float] = []

        def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
            if self.should_stop is not None and self.should_stop():
                raise Cancelled(self.frames)
            image = tf.constant(flat.reshape(shape), tf.float32)
            losses, grad = self.compiled.guided_loss_and_grad(
                image, content_feats, self.grams, self.weights, warped, mask, self.temporal_weight
            )
            seen.append(float(losses[0]))
            return seen[-1], grad.numpy().astype(np.float64).ravel()

        result = lbfgs(fun, x0.numpy(), self.steps)
        self.last = RefineStats(seen[0], float(result.fun), len(seen))
        self.frames += 1
        refined = deprocess(result.x.reshape(shape).astype(np.float32))
        if self.params.keep_colors:
            return np.asarray(colors.recombine(Image.fromarray(refined), Image.fromarray(source, "RGB")))
        return refined

    def loss(self, source: np.ndarray, image: np.ndarray, guide: Guide | None) -> float:
        """The loss `refine` optimises, of `image` (uint8 RGB) as the output for `source` (tests, benchmarks)."""
        content_feats, x, warped, mask = self.problem(source, image, guide)
        losses, _ = self.compiled.guided_loss_and_grad(
            x, content_feats, self.grams, self.weights, warped, mask, self.temporal_weight
        )
        return float(losses[0])

    def problem(
        self, source: np.ndarray, image: np.ndarray, guide: Guide | None
    ) -> tuple[tuple[tf.Tensor, ...], tf.Tensor, tf.Tensor, tf.Tensor]:
        """The source's content features, `image` in VGG space, the warped guide and its mask."""
        source_image = Image.fromarray(source, "RGB")
        if self.grams is None:
            self.grams = self._style_grams(source_image)
        keep = self.params.keep_colors
        # keep_colors: the photo path's luminance-only transfer (grey content and start, colours put back after).
        content = colors.gray_rgb(colors.luminance(source_image)) if keep else source_image
        _, content_feats = self.compiled.targets(preprocess(np.asarray(content)))
        x = preprocess(_grey(image) if keep else image)
        warped, mask = self._guide(guide, x, keep)
        return tuple(content_feats), x, warped, mask

    def _style_grams(self, frame: Image.Image) -> tuple[tf.Tensor, ...]:
        """The clip's style targets, once, at the frame's size (as the photo path's _Run._targets)."""
        side = max(MIN_LEVEL_SIDE // 2, round(max(frame.size) * self.params.style_scale))
        styles = [fit_longest_side(s, side) for s in self.styles]
        if self.params.keep_colors:
            # Deviation: matched to the first frame's luminance for the whole clip (the photo path matches its photo).
            styles = [colors.matched_style_luminance(s, frame) for s in styles]
        return blended_grams(self.compiled, styles, self.blend)

    @staticmethod
    def _guide(guide: Guide | None, x0: tf.Tensor, keep: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """The warped previous output (VGG space) and its visibility mask; a zero mask when there is none."""
        if guide is None:  # the first frame, or a scene cut: no temporal term (same trace, zero weight everywhere)
            return x0, tf.zeros((1, *x0.shape[1:3], 1), tf.float32)
        mask = tf.constant(guide.confidence[np.newaxis, ..., np.newaxis], tf.float32)
        if not keep:
            return preprocess(guide.warped), mask
        return preprocess(_grey(np.clip(np.rint(guide.warped), 0, 255).astype(np.uint8))), mask


def _grey(rgb: np.ndarray) -> np.ndarray:
    """An RGB frame's luminance as a grey RGB array (the luminance-only transfer's input)."""
    return np.asarray(colors.gray_rgb(colors.luminance(Image.fromarray(rgb, "RGB"))))
