"""How a job's quality, strength and colour choices become engine StyleParams."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import JobParams, Quality, Strength
from engine.params import SEED_STYLE_WEIGHT, StyleParams


@dataclass(frozen=True)
class Tier:
    """One quality tier: output size and optimisation budget (steps 0: the instant network alone)."""

    max_side: int
    steps: int
    levels: int
    # The Gatys run starts from the instant result (the caller passes it as `init_image`).
    warm_start: bool = True
    # Seconds a job of the tier takes end to end on 2 shared CPU cores, the slowest host it runs on (README,
    # measured 2026-12-01); a GPU is far quicker. The metrics count a run far beyond it as stuck.
    expected_s: float = 0.0


INSTANT: Quality = "instant"
# Warm start (init="image") from the instant network's result, then L-BFGS: the instant picture already has
# the painting's strokes and colours, so the optimiser only refines them towards the Gram statistics and the
# photo's structure. Iterations from bench/calibrate_tiers.py on the pretrained features (docs/benchmarks.md):
# 5-10 iterations already beat the instant result on style ratio and edge agreement, the gains flatten by ~20
# (256 px) and ~30 (512 px). HD starts at half size (coarse to fine) so large outputs stay coherent; its
# budget is the standard one per level (not measured at 1024 px on CPU).
TIERS: dict[Quality, Tier] = {
    INSTANT: Tier(1024, 0, 1, warm_start=False, expected_s=1.2),
    "preview": Tier(256, 20, 1, expected_s=18.0),
    "standard": Tier(512, 30, 1, expected_s=144.0),
    "hd": Tier(1024, 60, 2, expected_s=360.0),
}
# The side a clip is painted at per tier (the instant network paints every frame; no Gatys steps): at 384 px a
# frame takes about 0.05 s on two CPU cores (docs/benchmarks.md). STYLEBOT_CLIP_MAX_SIDE caps them all.
CLIP_SIDES: dict[Quality, int] = {INSTANT: 384, "preview": 256, "standard": 384, "hd": 512}
# One Gatys refinement step of a clip frame (STYLEBOT_CLIP_REFINE_STEPS) costs about this many instant-network frames
# (paint + blend): 0.5 s against 0.07 s at 160 px on two CPU cores (bench/clip_refine.py, docs/benchmarks.md).
REFINE_STEP_FRAMES = 7.0
STRENGTH_KNOB: dict[Strength, float] = {"low": 0.25, "medium": 0.5, "high": 0.75}
# The tiers weigh style 3x the features' base weight: on the pretrained features, 30 iterations from the instant
# result then reach the seed recipe's style ratio (1000 Adam steps), with the photo's edges still kept
# (bench/calibrate_tiers.py, docs/benchmarks.md).
TIER_STYLE_GAIN = 3.0


def style_params(
    job: JobParams,
    blend: tuple[float, ...],
    *,
    max_side: int | None = None,
    steps: int | None = None,
    quality: Quality | None = None,
    warm_start: bool = True,
    style_weight: float = SEED_STYLE_WEIGHT,
) -> StyleParams:
    """The engine parameters of a job; `max_side`/`steps` (STYLEBOT_MAX_SIDE/STEPS) override every tier.

    `quality` overrides job.quality (e.g. "instant"). The result has init="image" when the run must be given
    the instant result as `init_image` (see instant_params); warm_start=False keeps the photo as the start.
    `style_weight` is the base weight of the backbone's features (the seed's 1e-2 for ImageNet VGG19, 1.0 for
    the HED VGG16 features the calibration and quality tests use); the tiers use TIER_STYLE_GAIN times it.
    """
    tier = TIERS[quality or job.quality]
    side = max_side or tier.max_side
    if tier.steps == 0:
        return instant_params(job, blend, max_side=side, quality=quality)
    warm = warm_start and tier.warm_start
    return StyleParams(
        steps=steps or tier.steps,
        max_side=side,
        levels=tier.levels if side >= 512 else 1,
        strength=STRENGTH_KNOB[job.strength],
        style_weight=style_weight * TIER_STYLE_GAIN,
        keep_colors=job.keep_colors,
        style_blend=blend,
        seed=job.seed,
        # A new seed varies the picture; from a warm start a little noise is enough.
        init_noise=(0.05 if warm else 0.1) if job.seed else 0.0,
        init="image" if warm else "content",
        optimizer="lbfgs",
    )


def instant_params(
    job: JobParams, blend: tuple[float, ...], *, max_side: int | None = None, quality: Quality | None = None
) -> StyleParams:
    """The instant network's parameters for a job: the "instant" result, or a tier's warm start at its size."""
    tier = TIERS[quality or job.quality]
    return StyleParams(
        method="fast",
        max_side=max_side or tier.max_side,
        strength=STRENGTH_KNOB[job.strength],
        keep_colors=job.keep_colors,
        style_blend=blend,
        seed=job.seed,
    )


def clip_side(job: JobParams, cap: int) -> int:
    """The longest side a clip job is painted at: its tier's, capped by the operator's setting."""
    return min(CLIP_SIDES[job.quality], cap)


def clip_params(job: JobParams, blend: tuple[float, ...], cap: int) -> StyleParams:
    """The instant network's parameters for every frame of a clip job."""
    # The photo tiers' style weight, for STYLEBOT_CLIP_REFINE_STEPS' Gatys loss (the instant network ignores it).
    return instant_params(job, blend, max_side=clip_side(job, cap)).replace(
        style_weight=SEED_STYLE_WEIGHT * TIER_STYLE_GAIN
    )


def work_units(
    job: JobParams,
    *,
    max_side: int | None = None,
    steps: int | None = None,
    clip_cap: int = 512,
    clip_refine_steps: int = 0,
) -> float:
    """How much painting a job is; ETAs divide it by each quality's measured speed (see units_of).

    A clip is frames x megapixels (one instant-network pass a frame, plus its refinement steps, each worth
    REFINE_STEP_FRAMES passes): its ETA learns its own speed.
    """
    if job.is_clip:
        per_frame = 1 + clip_refine_steps * REFINE_STEP_FRAMES
        return units_of(clip_side(job, clip_cap), max(1, job.frames), 1) * per_frame
    tier = TIERS[job.quality]
    side = max_side or tier.max_side
    if tier.steps == 0:
        return units_of(side, 1, 1)
    return units_of(side, steps or tier.steps, tier.levels if side >= 512 else 1)


def units_of(side: int, steps: int, levels: int) -> float:
    """Megapixels × optimiser steps of a run (photos taken as 4:3), over its coarse-to-fine levels."""
    megapixels = side * side * 0.75 / 1e6
    # A coarse-to-fine run spends an equal share of its steps at each level; half the side costs a quarter.
    level_costs = [0.25 ** (levels - 1 - level) for level in range(levels)]
    return megapixels * steps * sum(level_costs) / levels
