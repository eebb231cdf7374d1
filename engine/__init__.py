"""stylebot's style-transfer engine: Gatys et al. with a VGG backbone, usable on its own."""

from engine.errors import (
    Cancelled,
    EngineError,
    InvalidImageError,
    InvalidParamsError,
    WeightsUnavailableError,
)
from engine.params import StyleParams
from engine.progress import Losses, Progress, RunStats

__all__ = [
    "Cancelled",
    "EngineError",
    "InvalidImageError",
    "InvalidParamsError",
    "Losses",
    "Progress",
    "RunStats",
    "StyleParams",
    "StyleResult",
    "Stylizer",
    "WeightsUnavailableError",
    "stylize",
]


def __getattr__(name: str) -> object:
    """Import TensorFlow only when the style-transfer code is first used, so `import engine` stays light."""
    if name in ("stylize", "Stylizer", "StyleResult"):
        from engine import transfer

        return getattr(transfer, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
