"""Pixel (de)processing for VGG and the loss terms of Gatys et al., as in the seed tutorial."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

# Caffe-style VGG preprocessing (what keras.applications.vgg19.preprocess_input does): BGR minus the
# ImageNet mean. The optimised image lives in this space, as in the seed.
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
PIXEL_MIN = -VGG_MEAN_BGR
PIXEL_MAX = 255.0 - VGG_MEAN_BGR


def preprocess(rgb: np.ndarray) -> tf.Tensor:
    """uint8/float RGB array (H, W, 3) in 0..255 -> float32 batch (1, H, W, 3) in VGG space."""
    x = np.asarray(rgb, dtype=np.float32)[..., ::-1] - VGG_MEAN_BGR
    return tf.constant(x[np.newaxis])


def deprocess(x: tf.Tensor | np.ndarray) -> np.ndarray:
    """VGG-space batch (1, H, W, 3) or (H, W, 3) -> uint8 RGB array (H, W, 3)."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[0]
    rgb = (arr + VGG_MEAN_BGR)[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def clip_to_pixels(x: tf.Tensor) -> tf.Tensor:
    """Clip a VGG-space image to the range of valid 0..255 pixels (the seed does this every step)."""
    return tf.clip_by_value(x, PIXEL_MIN, PIXEL_MAX)


@tf.custom_gradient
def gram_matrix(features: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """Channel Gram matrix (C, C) of a (1, H, W, C) feature map, divided by the H*W positions."""
    channels = tf.shape(features)[-1]
    flat = tf.reshape(features, [-1, channels])
    positions = tf.cast(tf.shape(flat)[0], features.dtype)
    gram = tf.matmul(flat, flat, transpose_a=True) / positions

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        """d(FᵀF/n)/dF = F(U + Uᵀ)/n: one matmul where autodiff does two (about 5% of a step at 512 px)."""
        return tf.reshape(tf.matmul(flat, upstream + tf.transpose(upstream)) / positions, tf.shape(features))

    return gram, gradient


def content_loss(features: Sequence[tf.Tensor], targets: Sequence[tf.Tensor]) -> tf.Tensor:
    """Mean squared feature error, averaged over the content layers."""
    terms = [tf.reduce_mean(tf.square(f - t)) for f, t in zip(features, targets, strict=True)]
    return tf.add_n(terms) / float(len(terms))


def style_loss(features: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor]) -> tf.Tensor:
    """Mean squared Gram-matrix error, the style layers weighted equally."""
    terms = [tf.reduce_mean(tf.square(gram_matrix(f) - g)) for f, g in zip(features, target_grams, strict=True)]
    return tf.add_n(terms) / float(len(terms))


def total_variation(x: tf.Tensor) -> tf.Tensor:
    """Sum of absolute differences between neighbouring pixels (equals tf.image.total_variation)."""
    dy = tf.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
    dx = tf.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
    return tf.reduce_sum(dy) + tf.reduce_sum(dx)


def tv_loss(x: tf.Tensor) -> tf.Tensor:
    """Total variation per pixel: unlike the raw sum, the weight means the same at every image size."""
    pixels = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], x.dtype)
    return total_variation(x) / pixels
