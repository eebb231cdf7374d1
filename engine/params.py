"""StyleParams: every knob of a run, validated once, frozen."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Literal

from engine.backbone import CONTENT_LAYERS, STYLE_LAYERS
from engine.errors import InvalidParamsError

Init = Literal["content", "noise", "image"]
Method = Literal["gatys", "fast"]
Optimizer = Literal["adam", "lbfgs"]
Pooling = Literal["max", "avg"]
LAYER_NAME = re.compile(r"^block[1-5]_(conv[1-4]|pool)$")

# The seed recipe (TensorFlow's "Neural Style Transfer with Eager Execution"): these defaults reproduce it.
SEED_STEPS = 1000
SEED_MAX_SIDE = 512
SEED_CONTENT_WEIGHT = 1e3
SEED_STYLE_WEIGHT = 1e-2
SEED_LEARNING_RATE = 5.0
ADAM_BETA_1 = 0.99
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 0.1

# strength 0.5 is the seed's style/content balance; each end moves the style weight by this factor.
STRENGTH_SPAN = 10.0


@dataclass(frozen=True)
class StyleParams:
    """Options of one style-transfer run; the defaults are the seed ("classic") recipe."""

    # Deviation (option): "fast" runs Magenta's feed-forward network (engine/fast.py) instead of optimising.
    method: Method = "gatys"
    steps: int = SEED_STEPS
    max_side: int = SEED_MAX_SIDE
    content_weight: float = SEED_CONTENT_WEIGHT
    style_weight: float = SEED_STYLE_WEIGHT
    # Deviation (option): total-variation smoothing, absent from the seed; normalised per pixel.
    tv_weight: float = 0.0
    # Deviation (option): one knob over the style/content balance; 0.5 leaves the weights as given.
    strength: float = 0.5
    # Deviation (option): luminance-only transfer (Gatys et al. 2016) keeps the photo's colours.
    keep_colors: bool = False
    # Deviation (option): several styles, blended by these weights (None: equal weights).
    style_blend: tuple[float, ...] | None = None
    # Deviation (option): the style image's longest side relative to the output's.
    style_scale: float = 1.0
    # Deviation (option): "image" starts from a caller's picture (the run's `init_image`), e.g. the instant result.
    # Use L-BFGS from such a start: the seed's Adam (lr 5, beta1 0.99) is far slower there (docs/benchmarks.md).
    init: Init = "content"
    # Deviation (option): fraction of seeded noise mixed into the start image, so seeds give variations.
    init_noise: float = 0.0
    seed: int = 0
    # Deviation (option): L-BFGS (SciPy's L-BFGS-B, with the pixel range as bounds) instead of Adam.
    optimizer: Optimizer = "adam"
    learning_rate: float = SEED_LEARNING_RATE
    # Deviation (option): coarse-to-fine schedule; each level doubles the side up to max_side.
    levels: int = 1
    # Options (jcjohnson/neural-style's -style_layers, -content_layers, -pooling); defaults are the seed's.
    style_layers: tuple[str, ...] = STYLE_LAYERS
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    # Deviation (option): average pooling instead of VGG's max pooling.
    pooling: Pooling = "max"

    def __post_init__(self) -> None:
        """Check every field against its allowed range."""
        _int_in(self, "steps", 1, 100_000)
        _int_in(self, "max_side", 16, 8192)
        _float_in(self, "content_weight", 0.0, 1e12)
        _float_in(self, "style_weight", 0.0, 1e12)
        _float_in(self, "tv_weight", 0.0, 1e12)
        _float_in(self, "strength", 0.0, 1.0)
        _float_in(self, "style_scale", 0.1, 4.0)
        _float_in(self, "init_noise", 0.0, 1.0)
        _int_in(self, "seed", 0, 2**32 - 1)
        _float_in(self, "learning_rate", 1e-6, 1000.0)
        _int_in(self, "levels", 1, 4)
        _choice(self, "method", ("gatys", "fast"))
        _choice(self, "init", ("content", "noise", "image"))
        _choice(self, "optimizer", ("adam", "lbfgs"))
        _choice(self, "pooling", ("max", "avg"))
        _layers(self, "style_layers")
        _layers(self, "content_layers")
        if not isinstance(self.keep_colors, bool):
            raise InvalidParamsError(f"keep_colors must be true or false; got {self.keep_colors!r}")
        if self.content_weight == 0 and self.style_weight == 0:
            raise InvalidParamsError("content_weight and style_weight cannot both be 0")
        if self.style_blend is not None:
            _check_blend(self.style_blend)

    @property
    def effective_style_weight(self) -> float:
        """The style weight after the strength knob: x1 at 0.5, x10 at 1, x0.1 at 0."""
        return self.style_weight * STRENGTH_SPAN ** (2.0 * (self.strength - 0.5))

    def blend_for(self, n_styles: int) -> tuple[float, ...]:
        """Normalised blend weights for `n_styles` style images."""
        weights = self.style_blend or (1.0,) * n_styles
        if len(weights) != n_styles:
            raise InvalidParamsError(f"style_blend has {len(weights)} weights for {n_styles} style images")
        total = sum(weights)
        return tuple(w / total for w in weights)

    def replace(self, **changes: object) -> StyleParams:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return StyleParams(**values)


def _int_in(params: StyleParams, name: str, low: int, high: int) -> None:
    """Raise unless the field is an int within [low, high]."""
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParamsError(f"{name} must be an integer from {low} to {high}; got {value!r}")


def _float_in(params: StyleParams, name: str, low: float, high: float) -> None:
    """Raise unless the field is a finite number within [low, high]."""
    value = getattr(params, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise InvalidParamsError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}")


def _choice(params: StyleParams, name: str, allowed: tuple[str, ...]) -> None:
    """Raise unless the field is one of `allowed`."""
    value = getattr(params, name)
    if value not in allowed:
        raise InvalidParamsError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _layers(params: StyleParams, name: str) -> None:
    """A non-empty tuple of distinct VGG layer names such as block4_conv2."""
    value = getattr(params, name)
    ok = isinstance(value, tuple) and 0 < len(value) <= 16 and len(set(value)) == len(value)
    if not ok or not all(isinstance(v, str) and LAYER_NAME.match(v) for v in value):
        raise InvalidParamsError(
            f"{name} must be 1 to 16 distinct VGG layer names like block1_conv1 (blockN_convM or blockN_pool); "
            f"got {value!r}"
        )


def _check_blend(blend: tuple[float, ...]) -> None:
    """Blend weights are non-negative finite numbers with a positive sum."""
    for w in blend:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidParamsError(f"style_blend weights must be numbers from 0 upwards; got {w!r}")
    if not blend or sum(blend) <= 0:
        raise InvalidParamsError("style_blend needs at least one weight above 0")
