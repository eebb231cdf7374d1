"""How a job's quality, strength and colour choices become engine StyleParams."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import JobParams, Quality, Strength
from engine.params import StyleParams


@dataclass(frozen=True)
class Tier:
    """One quality tier: output size and optimisation budget."""

    label: str
    max_side: int
    steps: int
    levels: int


# L-BFGS reaches in ~150 iterations what the seed's Adam needs ~1000 steps for, which matters for
# a chat bot's waiting time; HD starts at half size (coarse to fine) so large outputs stay coherent.
TIERS: dict[Quality, Tier] = {
    "preview": Tier("preview", 256, 60, 1),
    "standard": Tier("standard", 512, 150, 1),
    "hd": Tier("HD", 1024, 200, 2),
}
STRENGTH_KNOB: dict[Strength, float] = {"low": 0.25, "medium": 0.5, "high": 0.75}


def style_params(
    job: JobParams, blend: tuple[float, ...], *, max_side: int | None = None, steps: int | None = None
) -> StyleParams:
    """The engine parameters of a job; `max_side`/`steps` (STYLEBOT_MAX_SIDE/STEPS) override every tier."""
    tier = TIERS[job.quality]
    side = max_side or job.max_side or tier.max_side
    return StyleParams(
        steps=steps or job.steps or tier.steps,
        max_side=side,
        levels=tier.levels if side >= 512 else 1,
        strength=STRENGTH_KNOB[job.strength],
        keep_colors=job.keep_colors,
        style_blend=blend,
        seed=job.seed,
        init_noise=0.1 if job.seed else 0.0,
        optimizer="lbfgs",
    )
