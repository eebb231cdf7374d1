"""The bot's tiers as engine parameters: instant tier, warm starts, overrides (no TensorFlow needed)."""

from __future__ import annotations

from bot.core.models import JobParams
from bot.core.recipes import INSTANT, TIERS, instant_params, style_params


def test_standard_tier_starts_from_the_instant_result() -> None:
    job = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
    params = style_params(job, (1.0,))
    assert (params.method, params.init, params.optimizer) == ("gatys", "image", "lbfgs")
    assert (params.max_side, params.steps) == (TIERS["standard"].max_side, TIERS["standard"].steps)
    assert params.init_noise == 0.0
    warm = instant_params(job, (1.0,))
    assert (warm.method, warm.max_side, warm.strength) == ("fast", params.max_side, params.strength)


def test_instant_tier_is_the_fast_method_alone() -> None:
    job = JobParams(quality="hd", strength="high", keep_colors=True, seed=4)
    params = style_params(job, (0.5, 0.5), quality=INSTANT)
    assert params.method == "fast" and params.keep_colors and params.style_blend == (0.5, 0.5)
    assert params.strength == 0.75 and params.max_side == TIERS[INSTANT].max_side


def test_warm_start_can_be_turned_off_and_overrides_win() -> None:
    job = JobParams(quality="preview", strength="low", keep_colors=False, seed=2)
    cold = style_params(job, (1.0,), warm_start=False)
    assert cold.init == "content" and cold.init_noise > 0
    small = style_params(job, (1.0,), max_side=48, steps=3, style_weight=1.0)
    assert (small.max_side, small.steps, small.style_weight, small.init) == (48, 3, 3.0, "image")
    assert 0 < small.init_noise < cold.init_noise  # a new seed still varies a warm start, gently
