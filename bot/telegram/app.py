"""The composition root: settings in, a running Application out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import Application, ApplicationBuilder

from bot.config import Settings
from bot.core.service import StyleService
from bot.jobs.dispatcher import JobRunner
from bot.jobs.pool import PoolConfig, WorkerPool
from bot.presets.library import PresetLibrary
from bot.store.files import FileStore
from bot.store.storage import Storage
from bot.telegram import handlers
from bot.telegram.gateway import TelegramGateway

log = logging.getLogger(__name__)
App = Application[Any, Any, Any, Any, Any, Any]


class RedactToken(logging.Filter):
    """Removes the bot token from every log record (it is part of every Bot API URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message with the token replaced."""
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        return True


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Log to stderr, token redacted everywhere, HTTP client chatter kept out."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    redact = RedactToken(settings.token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def build_application(settings: Settings) -> App:
    """An Application wired to the settings; services start in post_init."""
    app = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_url)
        .base_file_url(settings.file_api_url)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    app.bot_data["settings"] = settings
    handlers.register(app)
    return app


async def _post_init(app: App) -> None:
    """Open storage, start the workers and the job runner, register the commands."""
    settings: Settings = app.bot_data["settings"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.styles_dir.mkdir(parents=True, exist_ok=True)
    storage = await Storage.open(settings.database_path)
    gateway = TelegramGateway(app.bot, int(settings.max_upload_mb * 1e6))
    files = FileStore(gateway, settings.files_dir)
    presets = PresetLibrary(settings.styles_dir)
    pool = WorkerPool(PoolConfig(settings.workers, settings.backbone, settings.weights, settings.gpus))
    runner = JobRunner(storage, pool, gateway, files, presets, settings)
    pool.on_event = runner.on_event
    app.bot_data.update(storage=storage, runner=runner, pool=pool)
    app.bot_data["service"] = StyleService(storage, runner, files, presets, settings)
    await runner.start()
    await _register_commands(app)
    if not presets.names():
        app.bot_data["fetch_task"] = asyncio.create_task(_fetch_catalogue(settings))
    log.info("stylebot started: %d worker(s), %d preset(s)", settings.workers, len(presets.names()))


async def _fetch_catalogue(settings: Settings) -> None:
    """First start with no presets: download the default catalogue in the background."""
    from bot.presets.fetch import fetch_catalogue

    report = await asyncio.to_thread(fetch_catalogue, settings.styles_dir)
    log.info("preset catalogue: %s", report.summary())


async def _register_commands(app: App) -> None:
    """The command menu, per scope."""
    private = [BotCommand(name, description) for name, description in handlers.PRIVATE_COMMANDS]
    groups = [BotCommand(name, description) for name, description in handlers.GROUP_COMMANDS]
    await app.bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats())
    await app.bot.set_my_commands(groups, scope=BotCommandScopeAllGroupChats())


async def _post_shutdown(app: App) -> None:
    """Stop the workers and close the database."""
    runner: JobRunner | None = app.bot_data.get("runner")
    if runner is not None:
        await runner.stop()
    storage: Storage | None = app.bot_data.get("storage")
    if storage is not None:
        await storage.close()


def run(settings: Settings) -> None:
    """Long-poll until interrupted."""
    app = build_application(settings)
    app.run_polling(allowed_updates=Update.ALL_TYPES, timeout=settings.poll_timeout_s)
