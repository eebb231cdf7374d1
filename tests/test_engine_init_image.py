"""Warm start (init="image"): the run starts from a caller's picture; random VGG weights, tiny sizes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidParamsError
from engine.params import StyleParams
from engine.transfer import Stylizer
from tests.conftest import ImageFactory


def mean_abs(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0..255)."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


# One Adam step keeps the start image: the lowest-loss image is the one the first loss was computed on.
ONE_STEP = StyleParams(steps=1, max_side=64, init="image")


def test_the_run_starts_from_the_given_picture_resized_to_the_content(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, make_image: ImageFactory
) -> None:
    start = make_image(40, 70, seed=9, kind="noise")  # another size and aspect than the 100x50 content
    out = random_stylizer.run(content_image, style_image, ONE_STEP, init_image=start).image
    assert out.size == (64, 32)
    expected = start.resize(out.size, Image.Resampling.LANCZOS)
    assert mean_abs(out, expected) < 2  # only the float round trip
    assert mean_abs(out, content_image.resize(out.size)) > 30


@pytest.mark.parametrize("kind", ["bytes", "path"])
def test_init_image_accepts_bytes_and_paths(
    random_stylizer: Stylizer,
    content_image: Image.Image,
    style_image: Image.Image,
    make_image: ImageFactory,
    tmp_path: Path,
    kind: str,
) -> None:
    start = make_image(64, 32, seed=9, kind="noise")
    buffer = io.BytesIO()
    start.save(buffer, "PNG")
    source: bytes | Path = buffer.getvalue()
    if kind == "path":
        source = tmp_path / "start.png"
        source.write_bytes(buffer.getvalue())
    out = random_stylizer.run(content_image, style_image, ONE_STEP, init_image=source).image
    assert mean_abs(out, start) < 2


def test_keep_colors_starts_from_the_pictures_luminance(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, make_image: ImageFactory
) -> None:
    start = make_image(64, 32, seed=9, kind="noise")
    out = random_stylizer.run(content_image, style_image, ONE_STEP.replace(keep_colors=True), init_image=start).image
    # Measured 4.3 (the photo's chroma joined to noise luminance clips in RGB); the photo's own is far away.
    assert mean_abs(out.convert("L"), start.convert("L")) < 8
    assert mean_abs(out.convert("L"), content_image.resize(out.size).convert("L")) > 30
    photo = np.asarray(content_image.resize(out.size, Image.Resampling.LANCZOS).convert("YCbCr"), np.float32)
    assert np.abs(np.asarray(out.convert("YCbCr"), np.float32)[..., 1:] - photo[..., 1:]).mean() < 8


def test_coarse_to_fine_starts_the_first_level_from_the_picture(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, make_image: ImageFactory
) -> None:
    start = make_image(100, 50, seed=9, kind="noise")
    params = StyleParams(steps=2, max_side=64, levels=2, init="image", learning_rate=1e-3)
    out = random_stylizer.run(content_image, style_image, params, init_image=start).image
    assert out.size == (64, 32)
    # The 32 px level kept the (downsized) picture, which the 64 px level continued from.
    assert mean_abs(out, start.resize(out.size)) < mean_abs(out, content_image.resize(out.size))


def test_optimising_moves_away_from_the_start(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, make_image: ImageFactory
) -> None:
    start = make_image(64, 32, seed=9, kind="noise")
    params = StyleParams(steps=5, max_side=64, init="image", optimizer="lbfgs")
    result = random_stylizer.run(content_image, style_image, params, init_image=start)
    assert mean_abs(result.image, start) > 1
    assert result.stats.steps >= 1


def test_init_image_and_init_image_mode_go_together(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    with pytest.raises(InvalidParamsError, match="init_image"):
        random_stylizer.run(content_image, style_image, ONE_STEP)
    with pytest.raises(InvalidParamsError, match="init_image"):
        random_stylizer.run(content_image, style_image, StyleParams(steps=1, max_side=64), init_image=content_image)
    with pytest.raises(InvalidParamsError, match="init"):
        StyleParams(init="photo")  # type: ignore[arg-type]


def test_cli_init_image(tmp_path: Path, content_image: Image.Image, style_image: Image.Image) -> None:
    from engine.cli import main

    content, style, start, out = (tmp_path / n for n in ("c.png", "s.png", "i.png", "o.png"))
    content_image.save(content)
    style_image.save(style)
    Image.new("RGB", (30, 30), (250, 10, 10)).save(start)
    argv = [str(content), str(style), "-o", str(out), "--size", "32", "--steps", "1", "--weights", "random", "-q"]
    assert main([*argv, "--init", "image", "--init-image", str(start)]) == 0
    assert np.asarray(Image.open(out).convert("RGB"), np.float32)[..., 0].mean() > 200  # started from red
    assert main([*argv, "--init", "image"]) == 1
