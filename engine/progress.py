"""The small dataclasses a run reports: progress while it runs, statistics when it ends."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Losses:
    """Weighted loss terms of one step (total = content + style + tv)."""

    total: float
    content: float
    style: float
    tv: float


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives every few steps."""

    step: int
    total: int
    losses: Losses
    elapsed_s: float
    eta_s: float | None
    level: int = 1
    levels: int = 1
    size: tuple[int, int] = (0, 0)
    preview: Image.Image | None = None

    @property
    def fraction(self) -> float:
        """Share of the run done, 0..1."""
        return self.step / self.total if self.total else 1.0


@dataclass(frozen=True)
class RunStats:
    """How a finished run went."""

    steps: int
    seconds: float
    first_step_s: float
    best_loss: float
    final_losses: Losses
    size: tuple[int, int]
    levels: int
    optimizer: str
    backbone: str
    weights: str
