"""The compiled (tf.function) pieces of a run, traced once per extractor for any image size."""

from __future__ import annotations

import functools
from typing import Any

import tensorflow as tf

from engine.backbone import Extractor
from engine.losses import clip_to_pixels, content_loss, gram_matrix, style_loss, tv_loss

_IMAGE = tf.TensorSpec([1, None, None, 3], tf.float32)
_SCALAR = tf.TensorSpec([], tf.float32)
# (content_weight, style_weight, tv_weight) and (learning_rate, beta_1, beta_2, epsilon) travel as
# tensors, so new values never cause a retrace.
_WEIGHTS = tf.TensorSpec([3], tf.float32)
_ADAM = tf.TensorSpec([4], tf.float32)
# A clip frame's guide: the previous output warped onto it (VGG space) and where it is visible (0..1).
_MASK = tf.TensorSpec([1, None, None, 1], tf.float32)

Targets = tuple[tuple[tf.Tensor, ...], tuple[tf.Tensor, ...]]


class CompiledSteps:
    """Target extraction, one Adam step, and loss-and-gradient (for L-BFGS), each one tf.function."""

    def __init__(self, extractor: Extractor) -> None:
        self._model = extractor.model
        self._n_style = extractor.n_style
        # Unknown height, width and channel counts: one trace serves every image size.
        content_specs = tuple(tf.TensorSpec([1, None, None, None], tf.float32) for _ in range(extractor.n_content))
        gram_specs = tuple(tf.TensorSpec([None, None], tf.float32) for _ in range(extractor.n_style))
        self.targets = tf.function(self._targets, input_signature=[_IMAGE])
        self.adam_step = tf.function(
            self._adam_step,
            input_signature=[
                _IMAGE, _IMAGE, _IMAGE, _SCALAR, _IMAGE, _SCALAR,
                content_specs, gram_specs, _WEIGHTS, _ADAM,
            ],
        )  # fmt: skip
        self.loss_and_grad = tf.function(
            self._loss_and_grad, input_signature=[_IMAGE, content_specs, gram_specs, _WEIGHTS]
        )
        # Clip refinement (engine/clip_refine.py): the same loss plus Ruder et al.'s temporal term. The guide and
        # its weight are inputs, so one trace serves every frame (a first frame passes an all-zero mask).
        self.guided_loss_and_grad = tf.function(
            self._guided_loss_and_grad,
            input_signature=[_IMAGE, content_specs, gram_specs, _WEIGHTS, _IMAGE, _MASK, _SCALAR],
        )

    def trace_counts(self) -> dict[str, int]:
        """How often each compiled function has been traced (for tests and diagnostics)."""
        fns = {
            "targets": self.targets,
            "adam_step": self.adam_step,
            "loss_and_grad": self.loss_and_grad,
            "guided_loss_and_grad": self.guided_loss_and_grad,
        }
        return {name: int(fn.experimental_get_tracing_count()) for name, fn in fns.items()}

    def _targets(self, x: tf.Tensor) -> Targets:
        """Gram matrices of the style layers and the content-layer features of an image."""
        outputs = self._model(x, training=False)
        grams = tuple(gram_matrix(f) for f in outputs[: self._n_style])
        return grams, tuple(outputs[self._n_style :])

    def _losses(self, x: tf.Tensor, content_targets: Any, gram_targets: Any, weights: tf.Tensor) -> tf.Tensor:
        """[total, content, style, tv] with the weights applied, as the seed's compute_loss."""
        outputs = self._model(x, training=False)
        c = weights[0] * content_loss(outputs[self._n_style :], content_targets)
        s = weights[1] * style_loss(outputs[: self._n_style], gram_targets)
        tv = weights[2] * tv_loss(x)
        return tf.stack([c + s + tv, c, s, tv])

    def _loss_and_grad(
        self, x: tf.Tensor, content_targets: Any, gram_targets: Any, weights: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Losses and the gradient of the total with respect to the image."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            losses = self._losses(x, content_targets, gram_targets, weights)
            total = losses[0]  # indexed inside the tape, or eager mode records no path to x
        return losses, tape.gradient(total, x)

    def _guided_loss_and_grad(
        self,
        x: tf.Tensor,
        content_targets: Any,
        gram_targets: Any,
        weights: tf.Tensor,
        warped: tf.Tensor,
        mask: tf.Tensor,
        temporal_weight: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """[total, content, style, tv, temporal] and the gradient of the total, the total with the temporal term.

        Temporal term (Ruder et al. 2016, eq. 6): weight * mean over pixels and channels of c * (x - warped)^2,
        c the visibility of the warped previous output (a mean, not their sum over D: its weight then means the
        same at every frame size).
        """
        with tf.GradientTape() as tape:
            tape.watch(x)
            losses = self._losses(x, content_targets, gram_targets, weights)
            temporal = temporal_weight * tf.reduce_mean(mask * tf.square(x - warped))
            total = losses[0] + temporal
        return tf.concat([tf.reshape(total, [1]), losses[1:], tf.reshape(temporal, [1])], 0), tape.gradient(total, x)

    def _adam_step(
        self,
        x: tf.Tensor,
        m: tf.Tensor,
        v: tf.Tensor,
        t: tf.Tensor,
        best_x: tf.Tensor,
        best_loss: tf.Tensor,
        content_targets: Any,
        gram_targets: Any,
        weights: tf.Tensor,
        adam: tf.Tensor,
    ) -> tuple[tf.Tensor, ...]:
        """One Adam update (Keras' formula) with clipping, keeping the lowest-loss image seen so far."""
        losses, g = self._loss_and_grad(x, content_targets, gram_targets, weights)
        lr, beta_1, beta_2, epsilon = adam[0], adam[1], adam[2], adam[3]
        # Adam written out on tensors instead of a Keras optimizer holding variables: the state then
        # has no fixed shape, so one trace fits every image size.
        t = t + 1.0
        alpha = lr * tf.sqrt(1.0 - tf.pow(beta_2, t)) / (1.0 - tf.pow(beta_1, t))
        m = m + (g - m) * (1.0 - beta_1)
        v = v + (tf.square(g) - v) * (1.0 - beta_2)
        new_x = clip_to_pixels(x - alpha * m / (tf.sqrt(v) + epsilon))
        # Deviation (fix): the seed stores the image *after* the update under the loss of the image
        # *before* it; here the kept image is the one the loss was measured on.
        better = losses[0] < best_loss
        best_x = tf.where(better, x, best_x)
        best_loss = tf.minimum(losses[0], best_loss)
        return new_x, m, v, best_x, best_loss, losses


@functools.lru_cache(maxsize=4)
def compiled_for(extractor: Extractor) -> CompiledSteps:
    """The compiled steps of an extractor, built once per process."""
    return CompiledSteps(extractor)
