"""The VGG feature extractor: weights resolution and one cached model per process."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InvalidParamsError, WeightsUnavailableError

log = logging.getLogger(__name__)

BACKBONES = ("vgg19", "vgg16")
CONTENT_LAYERS = ("block5_conv2",)
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")

# The file names and download addresses Keras uses for the include_top=False ImageNet weights.
_IMAGENET_FILES = {
    "vgg19": (
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
    "vgg16": (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
}


@dataclass(frozen=True)
class Extractor:
    """A Keras model mapping a preprocessed image batch to (style features..., content features...)."""

    model: Any
    backbone: str
    weights: str
    n_style: int
    n_content: int
    pooling: str = "max"


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded model weights (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    try:
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - Keras moved its private helper
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(home) / "models"


def imagenet_weights_path(backbone: str) -> Path:
    """The cache path Keras reads the ImageNet weights of `backbone` from."""
    return keras_cache_dir() / _IMAGENET_FILES[backbone][0]


def normalise_weights(weights: str | os.PathLike[str]) -> str:
    """Validate a weights spec: 'imagenet', 'random', or a path to an existing weights file."""
    spec = os.fspath(weights)
    if spec in ("imagenet", "random"):
        return spec
    path = Path(spec).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"Weights file {path} does not exist. Use 'imagenet', 'random' (tests only) or the path of a "
            "Keras weights file (.h5 or .weights.h5) for the chosen backbone."
        )
    return str(path.resolve())


def check_backbone(backbone: str) -> str:
    """Return `backbone` if supported, else raise an error naming the choices."""
    if backbone not in BACKBONES:
        raise InvalidParamsError(f"backbone must be one of {', '.join(BACKBONES)}; got {backbone!r}")
    return backbone


def get_extractor(
    backbone: str = "vgg19",
    weights: str | os.PathLike[str] = "imagenet",
    style_layers: tuple[str, ...] = STYLE_LAYERS,
    content_layers: tuple[str, ...] = CONTENT_LAYERS,
    pooling: str = "max",
) -> Extractor:
    """Return the process-wide feature extractor for this configuration, building it once."""
    return _build_extractor(
        check_backbone(backbone), normalise_weights(weights), tuple(style_layers), tuple(content_layers), pooling
    )


@functools.lru_cache(maxsize=2)
def _base_vgg(backbone: str, weights: str) -> Any:
    """The VGG with its weights loaded, once per process, shared by every layer configuration."""
    vgg = _load_vgg(backbone, weights)
    vgg.trainable = False
    return vgg


@functools.lru_cache(maxsize=8)
def _build_extractor(
    backbone: str, weights: str, style_layers: tuple[str, ...], content_layers: tuple[str, ...], pooling: str
) -> Extractor:
    """Build the truncated VGG whose outputs are the style and content layers."""
    import keras

    vgg = _base_vgg(backbone, weights)
    wanted = (*style_layers, *content_layers)
    known = [layer.name for layer in vgg.layers[1:]]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise InvalidParamsError(f"{backbone} has no layer {', '.join(unknown)}; its layers are {', '.join(known)}")
    # Walk the (sequential) VGG once, reusing its layers and so its weights; stopping after the deepest
    # wanted layer prunes the rest, and pooling layers are swapped when average pooling is asked for.
    x = inputs = keras.Input(shape=(None, None, 3))
    found: dict[str, Any] = {}
    for layer in vgg.layers[1:]:
        if pooling == "avg" and isinstance(layer, keras.layers.MaxPooling2D):
            # Deviation (option): average pooling, which Gatys et al. found gives slightly smoother results.
            x = keras.layers.AveragePooling2D(layer.pool_size, layer.strides, layer.padding, name=layer.name)(x)
        else:
            x = layer(x)
        found[layer.name] = x
        if all(name in found for name in wanted):
            break
    model = keras.Model(inputs, [found[name] for name in wanted], name=f"{backbone}_features")
    model.trainable = False
    log.info("built %s feature extractor (weights: %s, %s pooling)", backbone, weights, pooling)
    return Extractor(model, backbone, weights, len(style_layers), len(content_layers), pooling)


def _load_vgg(backbone: str, weights: str) -> Any:
    """Construct the Keras VGG without its classifier and load the requested weights."""
    import keras

    factory = keras.applications.VGG19 if backbone == "vgg19" else keras.applications.VGG16
    if weights == "random":
        log.warning(
            "USING RANDOM %s WEIGHTS: results will not look like style transfer. "
            "This is meant for tests only; set STYLEBOT_WEIGHTS=imagenet for real use.",
            backbone.upper(),
        )
        return factory(include_top=False, weights=None)
    if weights == "imagenet":
        return _load_imagenet(factory, backbone)
    try:
        return factory(include_top=False, weights=weights)
    except Exception as exc:  # Keras raises many types for a bad file; the user needs one message
        raise WeightsUnavailableError(
            f"Could not load {backbone} weights from {weights}: {type(exc).__name__}: {exc}"
        ) from exc


def _load_imagenet(factory: Any, backbone: str) -> Any:
    """Load ImageNet weights the Keras way (cached download), with a clear error when offline."""
    cached = imagenet_weights_path(backbone)
    try:
        return factory(include_top=False, weights="imagenet")
    except Exception as exc:  # offline or a broken download: Keras raises a bare Exception
        file_name, url = _IMAGENET_FILES[backbone]
        raise WeightsUnavailableError(
            f"The ImageNet {backbone.upper()} weights are not available: {cached} is missing and "
            f"downloading it failed ({type(exc).__name__}). Download {url} and save it as {cached} "
            f"(or set STYLEBOT_WEIGHTS to the path of a copy of {file_name})."
        ) from exc
