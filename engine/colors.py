"""Luminance-only transfer (Gatys et al. 2016, "Preserving color in neural artistic style transfer")."""

from __future__ import annotations

import numpy as np
from PIL import Image


def luminance(image: Image.Image) -> np.ndarray:
    """The Y channel (float32, 0..255) of an RGB image."""
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 0]


def gray_rgb(y: np.ndarray) -> Image.Image:
    """A luminance array shown as a 3-channel gray image, as VGG expects three channels."""
    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(y8[..., np.newaxis], 3, axis=2), mode="RGB")


def matched_style_luminance(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style's luminance, shifted and scaled to the content's mean and spread (the paper's matching)."""
    ys, yc = luminance(style), luminance(content)
    scale = float(yc.std()) / max(float(ys.std()), 1e-6)
    return gray_rgb((ys - ys.mean()) * scale + yc.mean())


def recombine(stylised: Image.Image, content: Image.Image) -> Image.Image:
    """The stylised luminance joined with the content's colour channels (Cb, Cr)."""
    ycbcr = np.asarray(content.resize(stylised.size, Image.Resampling.LANCZOS).convert("YCbCr")).copy()
    ycbcr[..., 0] = np.clip(np.rint(luminance(stylised)), 0, 255).astype(np.uint8)
    return Image.fromarray(ycbcr, mode="YCbCr").convert("RGB")
