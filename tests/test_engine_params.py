"""StyleParams (validation, defaults, derived values) and the level/step schedule helpers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from engine.errors import InvalidParamsError
from engine.params import StyleParams


def test_defaults_are_the_seed_recipe() -> None:
    p = StyleParams()
    assert p.steps == 1000
    assert p.max_side == 512
    assert p.content_weight == 1e3
    assert p.style_weight == 1e-2
    assert p.optimizer == "adam"
    assert p.learning_rate == 5.0
    assert p.levels == 1
    assert p.init == "content"
    # The deviations are off by default.
    assert p.tv_weight == 0.0
    assert p.strength == 0.5
    assert p.keep_colors is False
    assert p.style_blend is None
    assert p.style_scale == 1.0
    assert p.init_noise == 0.0
    assert p.effective_style_weight == p.style_weight


# (field, bad value, a piece of the message that names the allowed range or choices)
INVALID = [
    ("steps", 0, "from 1 to 100000"),
    ("steps", 100_001, "from 1 to 100000"),
    ("steps", 2.5, "integer from 1 to 100000"),
    ("steps", True, "integer from 1 to 100000"),
    ("steps", "10", "integer from 1 to 100000"),
    ("max_side", 15, "from 16 to 8192"),
    ("max_side", 8193, "from 16 to 8192"),
    ("content_weight", -1.0, "from 0 to 1e+12"),
    ("content_weight", math.inf, "from 0 to 1e+12"),
    ("style_weight", -0.5, "from 0 to 1e+12"),
    ("style_weight", math.nan, "from 0 to 1e+12"),
    ("tv_weight", -1e-3, "from 0 to 1e+12"),
    ("strength", -0.1, "from 0 to 1"),
    ("strength", 1.5, "from 0 to 1"),
    ("strength", "high", "from 0 to 1"),
    ("style_scale", 0.05, "from 0.1 to 4"),
    ("style_scale", 4.5, "from 0.1 to 4"),
    ("init_noise", -0.01, "from 0 to 1"),
    ("init_noise", 1.01, "from 0 to 1"),
    ("seed", -1, "from 0 to 4294967295"),
    ("seed", 2**32, "from 0 to 4294967295"),
    ("learning_rate", 0.0, "from 1e-06 to 1000"),
    ("learning_rate", 1001.0, "from 1e-06 to 1000"),
    ("levels", 0, "from 1 to 4"),
    ("levels", 5, "from 1 to 4"),
    ("init", "random", "one of content, noise"),
    ("optimizer", "sgd", "one of adam, lbfgs"),
    ("keep_colors", "yes", "true or false"),
    ("style_blend", (0.5, -0.5), "from 0 upwards"),
    ("style_blend", (math.nan,), "from 0 upwards"),
    ("style_blend", (0.0, 0.0), "at least one weight above 0"),
    ("style_blend", (), "at least one weight above 0"),
]


@pytest.mark.parametrize(("field", "value", "expected"), INVALID, ids=[f"{f}={v!r}" for f, v, _ in INVALID])
def test_invalid_values_raise_naming_the_allowed_range(field: str, value: object, expected: str) -> None:
    with pytest.raises(InvalidParamsError) as info:
        StyleParams(**{field: value})  # type: ignore[arg-type]
    message = str(info.value)
    assert expected in message
    assert field in message
    assert isinstance(info.value, ValueError)  # callers may catch ValueError as well


def test_boundaries_are_allowed() -> None:
    StyleParams(steps=1, max_side=16, strength=0.0, style_scale=0.1, init_noise=1.0, seed=2**32 - 1, levels=4)
    StyleParams(steps=100_000, max_side=8192, strength=1.0, style_scale=4.0, learning_rate=1e-6)
    StyleParams(content_weight=0.0)  # style alone is fine
    StyleParams(style_weight=0.0)  # content alone is fine


def test_content_and_style_weight_cannot_both_be_zero() -> None:
    with pytest.raises(InvalidParamsError, match="cannot both be 0"):
        StyleParams(content_weight=0.0, style_weight=0.0)


def test_params_are_frozen() -> None:
    p = StyleParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.steps = 5  # type: ignore[misc]


def test_params_are_hashable_and_compare_by_value() -> None:
    assert StyleParams(steps=5) == StyleParams(steps=5)
    assert len({StyleParams(steps=5), StyleParams(steps=5), StyleParams(steps=6)}) == 2


@pytest.mark.parametrize(("strength", "factor"), [(0.0, 0.1), (0.5, 1.0), (1.0, 10.0), (0.75, math.sqrt(10))])
def test_effective_style_weight(strength: float, factor: float) -> None:
    p = StyleParams(style_weight=2.0, strength=strength)
    assert p.effective_style_weight == pytest.approx(2.0 * factor, rel=1e-9)


def test_blend_for_normalises_and_defaults_to_equal_weights() -> None:
    assert StyleParams().blend_for(1) == (1.0,)
    assert StyleParams().blend_for(4) == pytest.approx((0.25, 0.25, 0.25, 0.25))
    assert StyleParams(style_blend=(3.0, 1.0)).blend_for(2) == pytest.approx((0.75, 0.25))
    assert StyleParams(style_blend=(0.7, 0.3)).blend_for(2) == pytest.approx((0.7, 0.3))
    assert sum(StyleParams(style_blend=(2.0, 5.0, 1.0)).blend_for(3)) == pytest.approx(1.0)


@pytest.mark.parametrize("n_styles", [1, 3])
def test_blend_for_rejects_the_wrong_number_of_weights(n_styles: int) -> None:
    with pytest.raises(InvalidParamsError, match=f"2 weights for {n_styles} style images"):
        StyleParams(style_blend=(0.5, 0.5)).blend_for(n_styles)


def test_replace_changes_fields_and_validates_again() -> None:
    p = StyleParams(steps=10, seed=3)
    q = p.replace(steps=20, optimizer="lbfgs")
    assert (q.steps, q.optimizer, q.seed) == (20, "lbfgs", 3)
    assert p.steps == 10  # the original is untouched
    with pytest.raises(InvalidParamsError, match="strength"):
        p.replace(strength=2.0)
    with pytest.raises(TypeError):
        p.replace(no_such_field=1)


# --- the coarse-to-fine schedule (engine.transfer imports TensorFlow; these helpers are pure) -----------


@pytest.mark.parametrize(
    ("max_side", "levels", "expected"),
    [
        (512, 1, [512]),
        (512, 2, [256, 512]),
        (512, 3, [128, 256, 512]),
        (512, 4, [64, 128, 256, 512]),
        (100, 3, [50, 100]),  # 25 px is below the 32 px minimum: dropped
        (64, 2, [32, 64]),
        (40, 4, [40]),  # every coarser level too small
        (16, 2, [16]),  # even the only level is below the minimum: kept
    ],
)
def test_level_sides(max_side: int, levels: int, expected: list[int]) -> None:
    from engine.transfer import level_sides

    assert level_sides(max_side, levels) == expected


@pytest.mark.parametrize(
    ("steps", "levels", "expected"),
    [
        (1000, 1, [1000]),
        (1000, 2, [500, 500]),
        (10, 3, [3, 3, 4]),  # the finest level takes the remainder
        (7, 4, [1, 1, 1, 4]),
        (2, 3, [1, 1, 1]),  # each level gets at least one step, and no more than that
        (3, 4, [1, 1, 1, 1]),
        (1, 1, [1]),
    ],
)
def test_split_steps(steps: int, levels: int, expected: list[int]) -> None:
    from engine.transfer import split_steps

    assert split_steps(steps, levels) == expected
    assert sum(expected) == max(steps, levels)
