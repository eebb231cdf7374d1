"""How a run behaves, with a random-weight VGG19 at <= 64 px and a handful of steps (fast on a CPU).

Random weights say nothing about how good the pictures look (see test_engine_quality.py); they do
exercise every code path: sizes, schedules, seeds, cancel, progress, optimisers, tracing and errors.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import backbone
from engine.errors import Cancelled, WeightsUnavailableError
from engine.params import StyleParams
from engine.progress import Progress
from engine.transfer import StyleResult, Stylizer, stylize

ImageFactory = Callable[..., Image.Image]
REPO_ROOT = Path(__file__).resolve().parent.parent

# Random-weight features are tiny, so the seed's style weight (1e-2) barely moves anything; 1e3 makes
# the style term dominate and the loss fall steeply within a few steps.
LOUD = {"style_weight": 1e3, "max_side": 64}


def _pixels(result: StyleResult) -> np.ndarray:
    return np.asarray(result.image)


def _run_collect(
    stylizer: Stylizer, content: Image.Image, styles: object, params: StyleParams, **kwargs: object
) -> tuple[StyleResult, list[Progress]]:
    seen: list[Progress] = []
    result = stylizer.run(content, styles, params, on_progress=seen.append, **kwargs)  # type: ignore[arg-type]
    return result, seen


def test_adam_lowers_the_total_loss(random_stylizer: Stylizer, content_image, style_image) -> None:
    result, seen = _run_collect(
        random_stylizer, content_image, style_image, StyleParams(steps=20, **LOUD), report_every=1
    )
    first, last = seen[0].losses, seen[-1].losses
    assert len(seen) == 20
    # Measured: the 20th step's loss is about 5% of the first's; 30% leaves room for other CPUs' maths.
    assert last.total < 0.3 * first.total, (first, last)
    assert result.stats.best_loss <= min(p.losses.total for p in seen)
    assert result.stats.steps == 20 and result.stats.optimizer == "adam"
    for p in seen:  # total = content + style + tv, as reported
        assert p.losses.total == pytest.approx(p.losses.content + p.losses.style + p.losses.tv, rel=1e-4)


def test_lbfgs_runs_and_lowers_the_loss(random_stylizer: Stylizer, content_image, style_image) -> None:
    params = StyleParams(steps=10, optimizer="lbfgs", **LOUD)
    result, seen = _run_collect(random_stylizer, content_image, style_image, params, report_every=1)
    steps = [p.step for p in seen]
    assert steps == list(range(1, len(seen) + 1)), steps  # one report per iteration, none twice
    # Measured: about 2% of the first iteration's loss after 10 iterations.
    assert seen[-1].losses.total < 0.3 * seen[0].losses.total, (seen[0].losses, seen[-1].losses)
    assert result.image.size == (64, 32)
    assert result.stats.optimizer == "lbfgs"
    assert 1 <= result.stats.steps <= 10


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((100, 50), 64, (64, 32)),  # landscape
        ((50, 100), 64, (32, 64)),  # portrait
        ((60, 60), 48, (48, 48)),  # square
        ((90, 30), 64, (64, 21)),  # 3:1, rounded
        ((20, 40), 64, (32, 64)),  # smaller than max_side: scaled up to it
    ],
)
def test_output_size_keeps_the_aspect_ratio(
    random_stylizer: Stylizer,
    make_image: ImageFactory,
    style_image: Image.Image,
    size: tuple[int, int],
    max_side: int,
    expected: tuple[int, int],
) -> None:
    content = make_image(*size, seed=4)
    result = random_stylizer.run(content, style_image, StyleParams(steps=1, max_side=max_side))
    assert result.image.size == expected
    assert result.stats.size == expected
    assert result.image.mode == "RGB"


@pytest.mark.parametrize(
    "variation",
    [{"init": "noise"}, {"init": "content", "init_noise": 0.3}],
    ids=["noise-init", "content-init-with-noise"],
)
def test_same_seed_same_pixels_other_seed_other_pixels(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, variation: dict
) -> None:
    params = StyleParams(steps=4, **LOUD, **variation)
    a = random_stylizer.run(content_image, style_image, params.replace(seed=7))
    b = random_stylizer.run(content_image, style_image, params.replace(seed=7))
    c = random_stylizer.run(content_image, style_image, params.replace(seed=8))
    np.testing.assert_array_equal(_pixels(a), _pixels(b))
    assert np.abs(_pixels(a).astype(int) - _pixels(c).astype(int)).mean() > 5.0


def test_without_noise_the_seed_changes_nothing(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    params = StyleParams(steps=3, **LOUD)
    a = random_stylizer.run(content_image, style_image, params.replace(seed=1))
    b = random_stylizer.run(content_image, style_image, params.replace(seed=2))
    np.testing.assert_array_equal(_pixels(a), _pixels(b))


def test_cancel_stops_within_one_step(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    calls = 0

    def stop_after_three() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    seen: list[Progress] = []
    with pytest.raises(Cancelled) as info:
        random_stylizer.run(
            content_image,
            style_image,
            StyleParams(steps=50, **LOUD),
            on_progress=seen.append,
            should_stop=stop_after_three,
            report_every=1,
        )
    assert info.value.step <= 3
    assert calls == 4  # asked once per step: the 4th answer stopped it before a 4th step
    assert [p.step for p in seen] == [1, 2, 3]
    assert "cancelled" in str(info.value)


def test_cancel_stops_lbfgs_too(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    calls = 0

    def stop_soon() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    with pytest.raises(Cancelled) as info:
        random_stylizer.run(
            content_image, style_image, StyleParams(steps=50, optimizer="lbfgs", **LOUD), should_stop=stop_soon
        )
    assert info.value.step <= 3
    assert calls == 4


def test_new_image_sizes_do_not_retrace(
    random_stylizer: Stylizer, make_image: ImageFactory, style_image: Image.Image
) -> None:
    """Traces are counted per process, so compare against the count after this test's first run."""
    params = StyleParams(steps=2, max_side=64)
    random_stylizer.run(make_image(100, 50, seed=5), style_image, params)
    after_first = random_stylizer.compiled.trace_counts()
    assert after_first["adam_step"] >= 1 and after_first["targets"] >= 1
    random_stylizer.run(make_image(40, 64, seed=6), style_image, params.replace(max_side=56))
    random_stylizer.run(make_image(33, 33, seed=7), style_image, params.replace(max_side=40, style_scale=2.0))
    assert random_stylizer.compiled.trace_counts() == after_first


def test_progress_fields(random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image) -> None:
    _, seen = _run_collect(
        random_stylizer,
        content_image,
        style_image,
        StyleParams(steps=6, **LOUD),
        report_every=1,
        preview_side=16,
    )
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    assert all(p.total == 6 for p in seen)
    assert seen[0].eta_s is None  # the first step includes tracing: no pace to extrapolate yet
    assert all(p.eta_s is not None and p.eta_s >= 0 for p in seen[1:])
    assert seen[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    elapsed = [p.elapsed_s for p in seen]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0
    assert seen[-1].fraction == 1.0 and seen[2].fraction == 0.5
    assert all((p.level, p.levels, p.size) == (1, 1, (64, 32)) for p in seen)
    for p in seen:
        assert p.preview is not None
        assert p.preview.size == (16, 8)


def test_report_every_and_no_preview_by_default(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    _, seen = _run_collect(random_stylizer, content_image, style_image, StyleParams(steps=7, **LOUD), report_every=3)
    assert [p.step for p in seen] == [3, 6, 7]  # every 3rd step and the last
    assert all(p.preview is None for p in seen)


def test_tv_weight_adds_a_tv_term(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    _, off = _run_collect(random_stylizer, content_image, style_image, StyleParams(steps=1, **LOUD))
    _, on = _run_collect(random_stylizer, content_image, style_image, StyleParams(steps=1, tv_weight=1.0, **LOUD))
    assert off[-1].losses.tv == 0.0
    assert on[-1].losses.tv > 0.0


def test_two_styles_blend(
    random_stylizer: Stylizer,
    content_image: Image.Image,
    style_image: Image.Image,
    other_style_image: Image.Image,
) -> None:
    params = StyleParams(steps=4, **LOUD)
    blended = random_stylizer.run(
        content_image, [style_image, other_style_image], params.replace(style_blend=(0.7, 0.3))
    )
    assert blended.image.size == (64, 32)
    # Blending Gram matrices: all the weight on the first style is exactly the first style alone...
    only_first = random_stylizer.run(
        content_image, [style_image, other_style_image], params.replace(style_blend=(1.0, 0.0))
    )
    alone = random_stylizer.run(content_image, style_image, params)
    np.testing.assert_array_equal(_pixels(only_first), _pixels(alone))
    # ...and a real blend is something else.
    assert not np.array_equal(_pixels(blended), _pixels(alone))


def test_wrong_number_of_blend_weights_is_refused(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    from engine.errors import InvalidParamsError

    with pytest.raises(InvalidParamsError, match="3 weights for 2 style images"):
        random_stylizer.run(
            content_image, [style_image, style_image], StyleParams(steps=1, style_blend=(1.0, 1.0, 1.0))
        )


def _chroma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), dtype=np.float32)[..., 1:]


def test_keep_colors_keeps_the_content_chroma(
    random_stylizer: Stylizer, make_image: ImageFactory, style_image: Image.Image, artifacts_dir: Path
) -> None:
    photo = make_image(100, 50, seed=9)
    content = Image.blend(Image.new("RGB", photo.size, (128, 128, 128)), photo, 0.5)  # photo-like saturation
    params = StyleParams(steps=10, **LOUD)
    kept = random_stylizer.run(content, style_image, params.replace(keep_colors=True))
    free = random_stylizer.run(content, style_image, params)
    for name, image in (("content", content), ("keep_colors", kept.image), ("free", free.image)):
        image.save(artifacts_dir / f"{name}.png")
    reference = _chroma(content.resize(kept.image.size, Image.Resampling.LANCZOS))
    kept_error = np.abs(_chroma(kept.image) - reference).mean()
    free_error = np.abs(_chroma(free.image) - reference).mean()
    assert kept_error < 2.0, kept_error
    assert free_error > 2 * kept_error, (free_error, kept_error)  # the plain run does shift the colours
    # The luminance was stylised: the output is not the content.
    kept_y = np.asarray(kept.image.convert("L"), dtype=np.float32)
    content_y = np.asarray(content.resize(kept.image.size).convert("L"), dtype=np.float32)
    assert np.abs(kept_y - content_y).mean() > 1.0


def test_levels_run_coarse_to_fine(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    result, seen = _run_collect(
        random_stylizer, content_image, style_image, StyleParams(steps=4, levels=2, **LOUD), report_every=1
    )
    assert result.image.size == (64, 32)
    assert result.stats.levels == 2 and result.stats.steps == 4
    assert [(p.step, p.level, p.size) for p in seen] == [
        (1, 1, (32, 16)),
        (2, 1, (32, 16)),
        (3, 2, (64, 32)),
        (4, 2, (64, 32)),
    ]
    assert all(p.levels == 2 and p.total == 4 for p in seen)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_bytes_in_bytes_out_through_stylize(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image
) -> None:
    """stylize() builds (once) the same cached extractor the session stylizer uses."""
    result = stylize(_png(content_image), _png(style_image), StyleParams(steps=2, max_side=48), weights="random")
    assert result.image.size == (48, 24)
    assert result.stats.backbone == "vgg19" and result.stats.weights == "random"
    png = Image.open(io.BytesIO(result.to_bytes("png")))
    assert png.format == "PNG" and png.size == (48, 24)
    np.testing.assert_array_equal(np.asarray(png.convert("RGB")), np.asarray(result.image))
    jpeg = Image.open(io.BytesIO(result.to_bytes()))
    assert jpeg.format == "JPEG" and jpeg.size == (48, 24)


def test_path_inputs_work(
    random_stylizer: Stylizer, content_image: Image.Image, style_image: Image.Image, tmp_path: Path
) -> None:
    content_path, style_path = tmp_path / "c.png", tmp_path / "s.jpg"
    content_image.save(content_path)
    style_image.save(style_path)
    result = random_stylizer.run(str(content_path), style_path, StyleParams(steps=1, max_side=32))
    assert result.image.size == (32, 16)


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "vgg19.weights.h5"
    with pytest.raises(WeightsUnavailableError) as info:
        backbone.get_extractor("vgg19", missing)
    assert str(missing) in str(info.value)


def test_a_file_that_is_not_weights_is_refused_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.weights.h5"
    bogus.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(WeightsUnavailableError, match=r"Could not load vgg16 weights from .*bogus\.weights\.h5"):
        backbone.get_extractor("vgg16", bogus)


def test_unknown_backbone_is_refused() -> None:
    from engine.errors import InvalidParamsError

    with pytest.raises(InvalidParamsError, match="vgg19, vgg16"):
        backbone.get_extractor("resnet50", "random")


def test_random_weights_log_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # get_extractor caches per process (the session stylizer may have built it already): call the
    # uncached builder so the warning is emitted here.
    with caplog.at_level(logging.WARNING, logger="engine.backbone"):
        vgg = backbone._load_vgg("vgg16", "random")
    assert vgg.get_layer("block5_conv3") is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "engine.backbone"]
    assert len(warnings) == 1
    assert "RANDOM VGG16 WEIGHTS" in warnings[0].getMessage()


_OFFLINE_IMAGENET = """
import json, sys
from engine.backbone import get_extractor, imagenet_weights_path
from engine.errors import WeightsUnavailableError
try:
    get_extractor("vgg19", "imagenet")
except WeightsUnavailableError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc),
                      "expected": str(imagenet_weights_path("vgg19"))}))
except BaseException as exc:  # any other type is the bug this test looks for
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
    sys.exit(3)
else:
    print(json.dumps({"type": None}))
"""


@pytest.mark.slow  # starts a process
def test_imagenet_weights_unavailable_offline_is_a_clear_error(tmp_path: Path) -> None:
    """KERAS_HOME is read when Keras is imported, so this runs in a fresh interpreter; a proxy on a
    closed local port makes the download fail at once even on a machine with internet access."""
    env = {
        **os.environ,
        "KERAS_HOME": str(tmp_path / "keras_home"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_IMAGENET],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["type"] == "WeightsUnavailableError", report
    expected = str(tmp_path / "keras_home" / "models" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert report["expected"] == expected
    message = report["message"]
    assert expected in message  # the file it looked for ...
    assert "save it as" in message  # ... and where to put a copy
    assert "https://storage.googleapis.com/" in message  # ... and where to get one
    assert "\n" not in message


def test_layers_and_pooling_are_options(random_stylizer: Stylizer, content_image, style_image) -> None:
    base = StyleParams(steps=6, **LOUD)
    default, _ = _run_collect(random_stylizer, content_image, style_image, base)
    avg, seen = _run_collect(random_stylizer, content_image, style_image, base.replace(pooling="avg"), report_every=1)
    assert seen[-1].losses.total < seen[0].losses.total
    assert np.asarray(avg.image).tolist() != np.asarray(default.image).tolist()
    shallow = base.replace(style_layers=("block1_conv1", "block2_conv1"), content_layers=("block3_conv2",))
    result, seen = _run_collect(random_stylizer, content_image, style_image, shallow, report_every=1)
    assert result.image.size == default.image.size and seen[-1].losses.total < seen[0].losses.total
    # The seed's configuration keeps its single trace; each other configuration gets its own.
    assert random_stylizer.compiled.trace_counts()["adam_step"] == 1
    assert random_stylizer.steps_for(shallow)[1].trace_counts()["adam_step"] == 1


def test_unknown_layers_are_refused_with_the_choices(random_stylizer: Stylizer, content_image, style_image) -> None:
    from engine.errors import InvalidParamsError

    with pytest.raises(InvalidParamsError, match="layer names like block1_conv1"):
        StyleParams(style_layers=("relu1_1",))
    with pytest.raises(InvalidParamsError, match="has no layer block1_conv3; its layers are block1_conv1"):
        random_stylizer.run(content_image, style_image, StyleParams(steps=1, content_layers=("block1_conv3",)))
