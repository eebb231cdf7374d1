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
    "FastStylizer",
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
    """Import TensorFlow/onnxruntime only when the style-transfer code is first used: `import engine` stays light."""
    if name in ("stylize", "Stylizer"):
        from engine import transfer

        return getattr(transfer, name)
    if name == "StyleResult":
        from engine.result import StyleResult

        return StyleResult
    if name == "FastStylizer":  # onnxruntime, no TensorFlow
        from engine.fast import FastStylizer

        return FastStylizer
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
