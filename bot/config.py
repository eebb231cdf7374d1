"""The one settings object of the bot, read from the environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import backbone_from_env, weights_from_env

TELEGRAM_API_URL = "https://api.telegram.org/bot"
TELEGRAM_FILE_API_URL = "https://api.telegram.org/file/bot"


class ConfigError(Exception):
    """A variable is missing or malformed; the message names it and says what is expected."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot is configured with; see .env.example for each variable."""

    token: str = field(repr=False)  # never printed: repr hides it
    api_url: str = TELEGRAM_API_URL
    file_api_url: str = TELEGRAM_FILE_API_URL
    data_dir: Path = Path("data")
    styles_dir: Path = Path("data/styles")
    weights: str = "imagenet"
    backbone: str = "vgg19"
    workers: int = 1
    gpus: int = 0
    max_side: int | None = None
    steps: int | None = None
    admin_ids: frozenset[int] = frozenset()
    max_upload_mb: float = 20.0
    jobs_per_user: int = 3
    queue_length: int = 100
    session_ttl_s: int = 24 * 3600
    status_interval_s: float = 3.0
    keep_files_s: int = 48 * 3600
    poll_timeout_s: int = 30
    images_per_minute: int = 20
    max_document_mp: int = 24
    cache_mb: int = 2000
    keep_jobs_days: int = 30

    @property
    def database_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "stylebot.sqlite3"

    @property
    def jobs_dir(self) -> Path:
        """Per-job working files (inputs, previews, results), deleted when a job ends."""
        return self.data_dir / "jobs"

    @property
    def files_dir(self) -> Path:
        """Downloaded Telegram files, cached by their unique id."""
        return self.data_dir / "files"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every STYLEBOT_* and TELEGRAM_* variable, validating each."""
        env = os.environ if env is None else env
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")
        data_dir = Path(env.get("STYLEBOT_DATA_DIR", "data")).expanduser()
        gpus = count_gpus()
        return cls(
            token=token,
            api_url=env.get("TELEGRAM_API_URL", TELEGRAM_API_URL),
            file_api_url=env.get("TELEGRAM_FILE_API_URL", TELEGRAM_FILE_API_URL),
            data_dir=data_dir,
            styles_dir=Path(env.get("STYLEBOT_STYLES_DIR", str(data_dir / "styles"))).expanduser(),
            weights=weights_from_env(env),
            backbone=backbone_from_env(env),
            workers=_int(env, "STYLEBOT_WORKERS", max(1, gpus), 1, 64),
            gpus=gpus,
            max_side=_optional_int(env, "STYLEBOT_MAX_SIDE", 16, 4096),
            steps=_optional_int(env, "STYLEBOT_STEPS", 1, 10_000),
            admin_ids=_ids(env.get("STYLEBOT_ADMIN_IDS", "")),
            max_upload_mb=float(_int(env, "STYLEBOT_MAX_UPLOAD_MB", 20, 1, 20)),
            jobs_per_user=_int(env, "STYLEBOT_JOBS_PER_USER", 3, 1, 100),
            queue_length=_int(env, "STYLEBOT_QUEUE_LENGTH", 100, 1, 100_000),
            session_ttl_s=_int(env, "STYLEBOT_SESSION_TTL_S", 24 * 3600, 60, 30 * 24 * 3600),
            status_interval_s=float(_int(env, "STYLEBOT_STATUS_INTERVAL_S", 3, 0, 60)),
            keep_files_s=_int(env, "STYLEBOT_KEEP_FILES_H", 48, 1, 24 * 365) * 3600,
            poll_timeout_s=_int(env, "STYLEBOT_POLL_TIMEOUT_S", 30, 0, 60),
            images_per_minute=_int(env, "STYLEBOT_IMAGES_PER_MINUTE", 20, 1, 1000),
            max_document_mp=_int(env, "STYLEBOT_MAX_DOCUMENT_MP", 24, 1, 50),
            cache_mb=_int(env, "STYLEBOT_CACHE_MB", 2000, 10, 1_000_000),
            keep_jobs_days=_int(env, "STYLEBOT_KEEP_JOBS_DAYS", 30, 1, 3650),
        )

    def redact(self, text: str) -> str:
        """`text` with the bot token replaced, for anything that is logged or shown."""
        return text.replace(self.token, "<token>") if self.token else text


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped, quotes stripped)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def environment(env_file: Path = Path(".env")) -> dict[str, str]:
    """The process environment over the values of a .env file, which fill in only what is unset or empty."""
    merged = {k: v for k, v in read_env_file(env_file).items() if v}
    merged.update({k: v for k, v in os.environ.items() if v or k not in merged})
    return merged


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer variable within [low, high], or the default when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {value}")
    return value


def _optional_int(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """An optional integer override: None when unset."""
    return _int(env, name, 0, low, high) if env.get(name, "").strip() else None


def _ids(raw: str) -> frozenset[int]:
    """Comma- or space-separated Telegram user ids."""
    parts = raw.replace(",", " ").split()
    try:
        return frozenset(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"STYLEBOT_ADMIN_IDS must list numeric user ids; got {raw!r}") from None


def count_gpus() -> int:
    """NVIDIA GPUs visible to this machine, without importing TensorFlow in the bot process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))
