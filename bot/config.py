"""The one settings object of the bot, read from the environment."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from bot.core.models import DEFAULT_QUALITY, QUALITIES, Quality, parse_quality
from engine.backbone import BACKBONES
from engine.config import backbone_from_env, weights_from_env

TELEGRAM_API_URL = "https://api.telegram.org/bot"
TELEGRAM_FILE_API_URL = "https://api.telegram.org/file/bot"
# "<bot id>:<secret>" as @BotFather gives it; the secret is 35 URL-safe characters today, with some slack
# so that a longer token Telegram may issue one day is not refused.
TOKEN_PATTERN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,64}")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EXECUTORS = ("local", "celery")
BROKER_URL = "redis://localhost:6379/0"
BROKER_SCHEMES = ("redis", "rediss")
LOG_FORMATS = ("text", "json")
# Telegram's rule for setWebhook's secret_token: 1 to 256 characters, letters, digits, _ and -.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEIGHT_KEYWORDS = ("imagenet", "random")


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
    default_quality: Quality = DEFAULT_QUALITY
    instant_preview: bool = True
    # Clips (GIFs, videos, video notes, stickers): Telegram lets bots download 20 MB; own Bot API servers up to 2000.
    max_clip_mb: int = 20
    clip_seconds: int = 30  # the longest GIF or video; video notes up to video_note_seconds, stickers 3 s
    video_note_seconds: int = 60
    clip_fps: int = 30
    clip_frames: int = 900  # the most frames one job paints
    clip_max_side: int = 512  # caps every quality tier's clip side (core/recipes.py CLIP_SIDES)
    log_level: str = "INFO"
    executor: str = "local"  # where paintings run: local worker processes, or a Celery cluster
    broker_url: str = BROKER_URL  # the cluster's Redis (broker, progress, results); used with executor=celery
    visibility_timeout_s: int = 6 * 3600  # a task unacknowledged this long goes to another worker
    log_format: str = "text"
    metrics_port: int | None = None  # metrics and health endpoints; off when None
    metrics_host: str = "127.0.0.1"
    webhook_url: str | None = None  # None: long polling
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def log_level_number(self) -> int:
        """The log level as the logging module's number (logging.INFO for "INFO")."""
        return int(getattr(logging, self.log_level))

    @property
    def debug(self) -> bool:
        """Whether STYLEBOT_LOG_LEVEL is DEBUG: tracebacks and TensorFlow's own logs are shown."""
        return self.log_level == "DEBUG"

    def worker_env(self) -> dict[str, str]:
        """Environment variables for the worker processes, set before they import TensorFlow."""
        if self.debug:
            return {"TF_CPP_MIN_LOG_LEVEL": "0", "STYLEBOT_LOG_LEVEL": self.log_level}
        # On a CPU-only server TensorFlow's C++ side reports its GPU probing ("Could not find cuda drivers" at
        # INFO, "failed call to cuInit" at ERROR); 3 keeps only fatal messages. absl's "before InitializeLog"
        # banner is printed with the first message that gets through, so it goes too.
        return {"TF_CPP_MIN_LOG_LEVEL": "3", "STYLEBOT_LOG_LEVEL": self.log_level}

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
        token = _token(env)
        data_dir = _directory(env, "STYLEBOT_DATA_DIR", Path("data"))
        gpus = count_gpus()
        webhook = _webhook(env)
        return cls(
            token=token,
            api_url=_url(env, "TELEGRAM_API_URL", TELEGRAM_API_URL),
            file_api_url=_url(env, "TELEGRAM_FILE_API_URL", TELEGRAM_FILE_API_URL),
            data_dir=data_dir,
            styles_dir=_directory(env, "STYLEBOT_STYLES_DIR", data_dir / "styles"),
            weights=_weights(env),
            backbone=_backbone(env),
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
            default_quality=_quality(env),
            instant_preview=_switch(env, "STYLEBOT_INSTANT_PREVIEW", True),
            max_clip_mb=_int(env, "STYLEBOT_MAX_CLIP_MB", 20, 1, 2000),
            clip_seconds=_int(env, "STYLEBOT_CLIP_SECONDS", 30, 1, 600),
            video_note_seconds=_int(env, "STYLEBOT_VIDEO_NOTE_SECONDS", 60, 1, 60),
            clip_fps=_int(env, "STYLEBOT_CLIP_FPS", 30, 1, 60),
            clip_frames=_int(env, "STYLEBOT_CLIP_FRAMES", 900, 1, 100_000),
            clip_max_side=_int(env, "STYLEBOT_CLIP_MAX_SIDE", 512, 64, 1024),
            log_level=_log_level(env),
            executor=_choice(env, "STYLEBOT_EXECUTOR", EXECUTORS),
            broker_url=broker_url(env),
            visibility_timeout_s=visibility_timeout(env),
            log_format=_choice(env, "STYLEBOT_LOG_FORMAT", LOG_FORMATS),
            metrics_port=metrics_port(env),
            metrics_host=metrics_host(env),
            webhook_url=webhook.url,
            webhook_listen=webhook.listen,
            webhook_port=webhook.port,
            webhook_secret=webhook.secret,
        )

    def redact(self, text: str) -> str:
        """`text` with the bot token replaced, for anything that is logged or shown."""
        return text.replace(self.token, "<token>") if self.token else text


def environment(env_file: Path = Path(".env")) -> dict[str, str]:
    """The process environment over a .env file's values (python-dotenv), which fill in what is unset or empty."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v}
    merged.update({k: v for k, v in os.environ.items() if v or k not in merged})
    return merged


def load_environment(env_file: Path = Path(".env")) -> None:
    """Read .env once into this process's environment, so every sub-command (fetch-styles too) sees it."""
    os.environ.update(environment(env_file))


def _token(env: Mapping[str, str]) -> str:
    """TELEGRAM_BOT_TOKEN, checked for the shape of a real token; messages never repeat the token."""
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")
    if TOKEN_PATTERN.fullmatch(token):
        return token
    hint = "it should look like 110201543:AAHdqTcv… (digits, a colon, 35 letters, digits, - or _) from @BotFather"
    if token.lower().startswith("bot") and TOKEN_PATTERN.fullmatch(token[3:]):
        hint = "leave out the leading 'bot': TELEGRAM_API_URL already ends with it"
    elif any(ch.isspace() or ch in "'\"" for ch in token):
        hint = "it contains spaces or quotes: copy just the token from @BotFather"
    raise ConfigError(f"TELEGRAM_BOT_TOKEN is not a bot token: {hint}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL with a host, or the default when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL like {default}; got {raw!r}")
    return raw


def _directory(env: Mapping[str, str], name: str, default: Path) -> Path:
    """A directory path (created later when missing); an existing file there is an error."""
    raw = env.get(name, "").strip()
    path = Path(raw).expanduser() if raw else default
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name} must be a directory, but {path} is a file")
    return path


def _weights(env: Mapping[str, str]) -> str:
    """STYLEBOT_WEIGHTS: a keyword, or the path of a weights file that exists."""
    weights = weights_from_env(env)
    if weights in _WEIGHT_KEYWORDS:
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"STYLEBOT_WEIGHTS: {path} {problem}; give a weights file (.h5 or .weights.h5), or imagenet to download"
        )
    return str(path)


def _backbone(env: Mapping[str, str]) -> str:
    """STYLEBOT_BACKBONE, one of the engine's backbones."""
    backbone = backbone_from_env(env)
    if backbone not in BACKBONES:
        raise ConfigError(f"STYLEBOT_BACKBONE must be one of {', '.join(BACKBONES)}; got {backbone!r}")
    return backbone


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off variable (on, off, true, false, 1, 0, yes, no)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be on or off; got {raw!r}")


def _quality(env: Mapping[str, str]) -> Quality:
    """STYLEBOT_DEFAULT_QUALITY: the quality of users who never chose one."""
    raw = env.get("STYLEBOT_DEFAULT_QUALITY", "").strip().lower() or DEFAULT_QUALITY
    try:
        return parse_quality(raw)
    except ValueError:
        raise ConfigError(f"STYLEBOT_DEFAULT_QUALITY must be one of {', '.join(QUALITIES)}; got {raw!r}") from None


def _log_level(env: Mapping[str, str]) -> str:
    """STYLEBOT_LOG_LEVEL, upper-cased (INFO when unset)."""
    raw = env.get("STYLEBOT_LOG_LEVEL", "").strip().upper() or "INFO"
    level = "WARNING" if raw == "WARN" else raw
    if level not in LOG_LEVELS:
        raise ConfigError(f"STYLEBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {raw!r}")
    return level


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (lower-cased), the first when unset."""
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return raw


def broker_url(env: Mapping[str, str]) -> str:
    """STYLEBOT_BROKER_URL: redis://[:password@]host[:port][/db] (rediss:// for TLS)."""
    raw = env.get("STYLEBOT_BROKER_URL", "").strip() or BROKER_URL
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme.lower() not in BROKER_SCHEMES or not parts.hostname:
        raise ConfigError(f"STYLEBOT_BROKER_URL must be a Redis URL like {BROKER_URL}; got {_without_password(raw)!r}")
    return raw


def metrics_port(env: Mapping[str, str]) -> int | None:
    """STYLEBOT_METRICS_PORT: where the bot, or a cluster worker, serves its metrics; None (off) when unset."""
    return _optional_int(env, "STYLEBOT_METRICS_PORT", 1, 65535)


def metrics_host(env: Mapping[str, str]) -> str:
    """STYLEBOT_METRICS_HOST: the address the metrics endpoint listens on (this machine only by default)."""
    return env.get("STYLEBOT_METRICS_HOST", "").strip() or "127.0.0.1"


def visibility_timeout(env: Mapping[str, str]) -> int:
    """STYLEBOT_VISIBILITY_TIMEOUT_S: longer than the longest job, or a running job is started twice."""
    return _int(env, "STYLEBOT_VISIBILITY_TIMEOUT_S", 6 * 3600, 5, 7 * 24 * 3600)


def _without_password(url: str) -> str:
    """A URL with its password (if any) replaced, for error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


@dataclass(frozen=True)
class _Webhook:
    """The STYLEBOT_WEBHOOK_* variables, checked together."""

    url: str | None = None
    listen: str = "0.0.0.0"
    port: int = 8443
    secret: str | None = None


def _webhook(env: Mapping[str, str]) -> _Webhook:
    """STYLEBOT_WEBHOOK_*: an https URL switches to webhook mode, and then a secret is required."""
    url = env.get("STYLEBOT_WEBHOOK_URL", "").strip()
    if not url:
        return _Webhook()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigError(f"STYLEBOT_WEBHOOK_URL must be an https URL (Telegram posts only to https); got {url!r}")
    secret = env.get("STYLEBOT_WEBHOOK_SECRET", "").strip()
    if not secret:
        raise ConfigError(
            "STYLEBOT_WEBHOOK_SECRET is required with STYLEBOT_WEBHOOK_URL: anyone could post updates otherwise "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if not WEBHOOK_SECRET_PATTERN.fullmatch(secret):
        raise ConfigError("STYLEBOT_WEBHOOK_SECRET must be 1 to 256 letters, digits, _ or - (Telegram's rule)")
    port = _int(env, "STYLEBOT_WEBHOOK_PORT", 8443, 1, 65535)
    if port == metrics_port(env):
        raise ConfigError("STYLEBOT_WEBHOOK_PORT and STYLEBOT_METRICS_PORT must differ")
    return _Webhook(url, env.get("STYLEBOT_WEBHOOK_LISTEN", "").strip() or "0.0.0.0", port, secret)


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
