"""The engine CLI's defaults from the environment (no TensorFlow here).

Only `python -m engine` reads these: the engine's functions take their values as parameters, and the bot
reads its variables through its own settings model (bot/config.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_BACKBONE = "STYLEBOT_BACKBONE"
ENV_WEIGHTS = "STYLEBOT_WEIGHTS"
ENV_FAST_MODEL_DIR = "STYLEBOT_FAST_MODEL_DIR"
DEFAULT_BACKBONE = "vgg19"
DEFAULT_WEIGHTS = "imagenet"
_KEYWORD_WEIGHTS = ("imagenet", "random")


def backbone_from_env(environ: Mapping[str, str] | None = None) -> str:
    """STYLEBOT_BACKBONE, lower-cased ("vgg19" when unset or blank); the Stylizer validates the name."""
    value = _get(environ, ENV_BACKBONE)
    return value.lower() if value else DEFAULT_BACKBONE


def weights_from_env(environ: Mapping[str, str] | None = None) -> str:
    """STYLEBOT_WEIGHTS: "imagenet" (when unset or blank), "random" (tests only) or a weights file path."""
    value = _get(environ, ENV_WEIGHTS)
    if not value:
        return DEFAULT_WEIGHTS
    # The keywords are case-insensitive; a path is kept exactly as written.
    return value.lower() if value.lower() in _KEYWORD_WEIGHTS else value


def fast_model_dir_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """STYLEBOT_FAST_MODEL_DIR: the instant network's folder, or None for the installed package's."""
    return _get(environ, ENV_FAST_MODEL_DIR) or None


def _get(environ: Mapping[str, str] | None, name: str) -> str:
    """The variable's value without surrounding blanks ("" when unset)."""
    env = os.environ if environ is None else environ
    return env.get(name, "").strip()
