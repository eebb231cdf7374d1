"""engine.losses and engine.colors against NumPy formulas and TensorFlow's own implementations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from engine import colors
from engine.losses import (
    PIXEL_MAX,
    PIXEL_MIN,
    VGG_MEAN_BGR,
    clip_to_pixels,
    content_loss,
    deprocess,
    gram_matrix,
    preprocess,
    style_loss,
    total_variation,
    tv_loss,
)

ImageFactory = Callable[..., Image.Image]
SHAPES = [(1, 5, 7, 3), (1, 16, 9, 3), (1, 1, 4, 3)]


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 50, shape).astype(np.float32)


def _gram_np(features: np.ndarray) -> np.ndarray:
    """G[c, d] = sum over positions of F[p, c] F[p, d], divided by the number of positions."""
    _, h, w, _ = features.shape
    return np.einsum("bhwc,bhwd->cd", features.astype(np.float64), features.astype(np.float64)) / (h * w)


@pytest.mark.parametrize("shape", SHAPES)
def test_total_variation_equals_tensorflow(shape: tuple[int, ...]) -> None:
    x = tf.constant(_random(shape))
    ours = float(total_variation(x))
    theirs = float(tf.reduce_sum(tf.image.total_variation(x)))
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_total_variation_of_a_constant_image_is_zero() -> None:
    assert float(total_variation(tf.fill([1, 6, 6, 3], 7.0))) == 0.0


@pytest.mark.parametrize("shape", SHAPES)
def test_tv_loss_is_total_variation_per_pixel(shape: tuple[int, ...]) -> None:
    x = tf.constant(_random(shape, seed=1))
    pixels = shape[1] * shape[2]
    assert float(tv_loss(x)) == pytest.approx(float(total_variation(x)) / pixels, rel=1e-6)


def test_tv_loss_does_not_grow_with_image_size() -> None:
    """The same pattern at twice the size has about the same per-pixel TV (the point of normalising)."""
    stripes = np.tile(np.array([0.0, 10.0], np.float32), 8)[None, None, :, None] * np.ones((1, 16, 1, 3))
    small = tf.constant(stripes.astype(np.float32))
    large = tf.constant(np.tile(stripes, (1, 2, 2, 1)).astype(np.float32))
    assert float(tv_loss(large)) == pytest.approx(float(tv_loss(small)), rel=0.1)


def test_gram_matrix_shape_symmetry_and_numpy_formula() -> None:
    features = np.abs(_random((1, 6, 5, 8), seed=2))
    gram = gram_matrix(tf.constant(features)).numpy()
    assert gram.shape == (8, 8)
    np.testing.assert_allclose(gram, gram.T, rtol=1e-6)
    np.testing.assert_allclose(gram, _gram_np(features), rtol=1e-5)


def test_gram_matrix_divides_by_positions() -> None:
    """Features of all ones over H*W positions: each entry is H*W / (H*W) = 1, at any size."""
    for h, w in [(3, 4), (10, 7)]:
        gram = gram_matrix(tf.ones([1, h, w, 5])).numpy()
        np.testing.assert_allclose(gram, np.ones((5, 5)), rtol=1e-6)


def test_content_loss_is_mean_squared_error_averaged_over_layers() -> None:
    feats = [_random((1, 4, 4, 6), seed=3), _random((1, 2, 2, 8), seed=4)]
    targets = [_random((1, 4, 4, 6), seed=5), _random((1, 2, 2, 8), seed=6)]
    expected = np.mean([np.mean((f.astype(np.float64) - t) ** 2) for f, t in zip(feats, targets, strict=True)])
    got = float(content_loss([tf.constant(f) for f in feats], [tf.constant(t) for t in targets]))
    assert got == pytest.approx(expected, rel=1e-5)


def test_content_loss_is_zero_on_the_target() -> None:
    f = tf.constant(_random((1, 3, 3, 4), seed=7))
    assert float(content_loss([f], [f])) == 0.0


def test_style_loss_is_mean_squared_gram_error_averaged_over_layers() -> None:
    feats = [np.abs(_random((1, 5, 5, 4), seed=8)), np.abs(_random((1, 3, 2, 6), seed=9))]
    targets = [
        _gram_np(np.abs(_random((1, 7, 7, 4), seed=10))),
        _gram_np(np.abs(_random((1, 4, 4, 6), seed=11))),
    ]
    expected = np.mean([np.mean((_gram_np(f) - g) ** 2) for f, g in zip(feats, targets, strict=True)])
    got = float(style_loss([tf.constant(f) for f in feats], [tf.constant(g.astype(np.float32)) for g in targets]))
    assert got == pytest.approx(expected, rel=1e-4)


def test_style_loss_ignores_where_things_are() -> None:
    """Grams discard positions: a spatially shuffled feature map has the same style loss (zero)."""
    f = _random((1, 6, 6, 4), seed=12)
    shuffled = f.reshape(36, 4)[np.random.default_rng(0).permutation(36)].reshape(1, 6, 6, 4)
    target = gram_matrix(tf.constant(f))
    assert float(style_loss([tf.constant(shuffled)], [target])) == pytest.approx(0.0, abs=1e-3)


def test_preprocess_then_deprocess_returns_the_exact_image() -> None:
    rgb = np.random.default_rng(13).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    x = preprocess(rgb)
    assert x.shape == (1, 9, 11, 3) and x.dtype == tf.float32
    # VGG space is BGR minus the ImageNet mean.
    np.testing.assert_allclose(x.numpy()[0, 0, 0], rgb[0, 0, ::-1].astype(np.float32) - VGG_MEAN_BGR)
    back = deprocess(x)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, rgb)
    np.testing.assert_array_equal(deprocess(x.numpy()[0]), rgb)  # 3-D input too


def test_clip_to_pixels_keeps_deprocess_within_0_255() -> None:
    wild = tf.constant(np.random.default_rng(14).normal(0, 500, (1, 8, 8, 3)).astype(np.float32))
    clipped = clip_to_pixels(wild).numpy()
    assert (clipped >= PIXEL_MIN - 1e-4).all() and (clipped <= PIXEL_MAX + 1e-4).all()
    rgb = (clipped[0] + VGG_MEAN_BGR)[..., ::-1]
    assert rgb.min() >= -1e-3 and rgb.max() <= 255 + 1e-3
    out = deprocess(clipped)
    assert out.min() >= 0 and out.max() <= 255
    # The extremes survive: a value far below the range becomes 0, far above becomes 255.
    extremes = deprocess(clip_to_pixels(tf.constant([[[[-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]]]])))
    np.testing.assert_array_equal(extremes, [[[0, 0, 0], [255, 255, 255]]])


def _ycbcr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)


def test_recombine_keeps_content_chroma_and_stylised_luminance(make_image: ImageFactory) -> None:
    # Photo-like saturation: a fully saturated colour under a much brighter or darker luminance falls out
    # of the RGB gamut and gets clipped, which changes its chroma whatever recombine does.
    photo = make_image(64, 40, seed=20, kind="photo")
    content = Image.blend(Image.new("RGB", photo.size, (128, 128, 128)), photo, 0.5)
    stylised = make_image(64, 40, seed=21, kind="style")
    out = colors.recombine(stylised, content)
    assert out.size == stylised.size and out.mode == "RGB"
    got, want_chroma, want_luma = _ycbcr(out), _ycbcr(content), _ycbcr(stylised)
    # The YCbCr -> RGB -> YCbCr round trip through uint8 costs about a level, no more.
    assert np.abs(got[..., 1:] - want_chroma[..., 1:]).mean() < 1.5
    assert np.abs(got[..., 0] - want_luma[..., 0]).mean() < 1.5
    # ...while the stylised image's own colours were discarded.
    assert np.abs(want_luma[..., 1:] - want_chroma[..., 1:]).mean() > 10.0


def test_recombine_resizes_the_content_to_the_stylised_size(make_image: ImageFactory) -> None:
    content = make_image(128, 80, seed=22, kind="photo")
    stylised = make_image(64, 40, seed=23, kind="style")
    assert colors.recombine(stylised, content).size == (64, 40)


def test_matched_style_luminance_has_content_mean_and_spread(make_image: ImageFactory) -> None:
    style = make_image(50, 50, seed=24, kind="style")
    content = make_image(60, 30, seed=25, kind="photo")
    matched = colors.luminance(colors.matched_style_luminance(style, content))
    target = colors.luminance(content)
    assert matched.mean() == pytest.approx(target.mean(), abs=3.0)
    assert matched.std() == pytest.approx(target.std(), rel=0.1)


def test_gram_gradient_matches_autodiff_of_the_formula() -> None:
    features = tf.random.stateless_normal([1, 7, 5, 6], seed=[3, 4])
    upstream = tf.random.stateless_normal([6, 6], seed=[5, 6])

    def plain(f: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(f, [-1, 6])
        return tf.matmul(flat, flat, transpose_a=True) / 35.0

    grads = []
    for fn in (gram_matrix, plain):
        with tf.GradientTape() as tape:
            tape.watch(features)
            value = tf.reduce_sum(fn(features) * upstream)
        grads.append(tape.gradient(value, features).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)
