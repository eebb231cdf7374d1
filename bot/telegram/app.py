"""The composition root: settings in, a running Application out."""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.parse
from typing import Any

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults

from bot.config import Settings
from bot.core.logcontext import ContextFilter
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.executor_port import Executor
from bot.jobs.factory import local_hardware, make_executor, make_instant_painter
from bot.jobs.purge import purge
from bot.jobs.supervise import TaskSet
from bot.ops.health import Probes
from bot.ops.logs import JsonFormatter
from bot.ops.metrics import Metrics, PrometheusObserver
from bot.ops.server import OpsServer
from bot.presets.library import PresetLibrary
from bot.service import StyleService
from bot.store.files import FileStore
from bot.store.storage import Storage
from bot.telegram import handlers, i18n, texts
from bot.telegram.gateway import TelegramDownloader
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.ratelimit import PerChatRateLimiter
from bot.telegram.state import App, BotData, Context, Services
from bot.telegram.updates import PerSenderUpdateProcessor

log = logging.getLogger(__name__)
PURGE_INTERVAL_S = 3600
LARGEST_TIER_SIDE = 1024  # photos are decoded no larger than the largest tier needs
CONCURRENT_UPDATES = 256


class RedactToken(logging.Filter):
    """Removes the bot token from every log record, tracebacks included (it is part of every Bot API URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message and the formatted traceback with the token replaced."""
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._token in record.exc_text:
            record.exc_text = record.exc_text.replace(self._token, "<token>")
        if record.stack_info and self._token in record.stack_info:
            record.stack_info = record.stack_info.replace(self._token, "<token>")
        return True


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Log to stderr (text, or JSON lines), token redacted everywhere, HTTP client chatter kept out."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        prepare_handler(handler, settings)
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def prepare_handler(handler: logging.Handler, settings: Settings) -> None:
    """Redact the token, add the ids of the job, chat and user, and use the configured format (text or JSON)."""
    handler.addFilter(RedactToken(settings.token))
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(settings.redact))


def build_application(settings: Settings, executor: Executor | None = None) -> App:
    """An Application wired to the settings (a given executor replaces the local pool); services start later."""
    metrics = Metrics()
    app = (
        ApplicationBuilder()
        .context_types(ContextTypes(bot_data=BotData))
        .token(settings.token)
        .base_url(settings.api_url)
        .base_file_url(settings.file_api_url)
        .defaults(Defaults(do_quote=True, allow_sending_without_reply=True))
        .rate_limiter(PerChatRateLimiter(observe=metrics.telegram_request))
        .concurrent_updates(PerSenderUpdateProcessor(CONCURRENT_UPDATES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    app.bot_data.configure(settings, metrics, executor)
    handlers.register(app)
    return app


def protect_data(settings: Settings) -> None:
    """Photos and results are private: folders 0700 and files 0600, for this process and its workers."""
    os.umask(0o077)
    for path in (settings.data_dir, settings.styles_dir):
        path.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)


async def _post_init(app: App) -> None:
    """Open storage, start the workers and the dispatcher, schedule the purge, register the commands."""
    state = app.bot_data
    settings = state.settings
    # Local worker processes, or the Celery cluster (STYLEBOT_EXECUTOR); tests pass their own.
    pool: Executor | None = state.executor
    if pool is None:
        gpus = 0
        if settings.executor == "local":  # the GPUs are counted where the workers start (nvidia-smi: a thread's)
            settings, gpus = await asyncio.to_thread(local_hardware, settings)
            state.configure(settings, state.metrics, None)
        pool = make_executor(settings, gpus)
    protect_data(settings)
    storage = await Storage.open(settings.database_path, default_quality=settings.default_quality)
    presets = PresetLibrary(settings.styles_dir)
    # Photos are held to max_upload_mb (the service and the store check), clips to max_clip_mb.
    downloader = TelegramDownloader(app.bot, int(max(settings.max_upload_mb, settings.max_clip_mb) * 1e6))
    files = FileStore(
        downloader,
        settings.files_dir,
        quota_bytes=settings.cache_mb * 1_000_000,
        max_pixels=settings.max_document_mp * 1_000_000,
        decode_side=LARGEST_TIER_SIDE,
        max_bytes=int(settings.max_upload_mb * 1e6),
        clip_max_bytes=int(settings.max_clip_mb * 1e6),
    )
    notifier = TelegramNotifier(app.bot, storage, presets, settings)
    # Instant pictures are painted in a lane of worker processes (or the cluster's instant queue), never here;
    # without it, "instant" jobs still run: on the workers, like any other.
    instant = make_instant_painter(settings)
    observer = PrometheusObserver(state.metrics, state.workers)
    if settings.executor == "local":  # the workers are this host's processes: their memory can be read here
        state.metrics.watch_local_workers(state.workers)
    dispatcher = Dispatcher(storage, pool, notifier, files, presets, settings, instant, observer=observer)
    probes = Probes(storage, dispatcher, pool, state.workers, state.metrics, settings.workers or 1, settings.data_dir)
    state.services = Services(
        storage=storage,
        dispatcher=dispatcher,
        notifier=notifier,
        service=StyleService(storage, dispatcher, files, presets, settings),
        probes=probes,  # /stats reads them too
        background=TaskSet(),
        instant=instant,
    )
    await dispatcher.start()
    if instant is not None:
        instant.start()
    if settings.metrics_port is not None:
        state.services.ops = OpsServer(probes, settings.metrics_host, settings.metrics_port)
        state.services.ops.start()
    if app.job_queue is not None:
        app.job_queue.run_repeating(_purge, interval=PURGE_INTERVAL_S, first=60, name="purge")
    state.services.background.spawn(_register_commands(app), name="register-commands")
    if not presets.names():
        state.services.background.spawn(_fetch_catalogue(settings), name="fetch-catalogue")
    log.info("stylebot started: %d worker(s), %d preset(s)", settings.workers or 1, len(presets.names()))


async def _purge(context: Context) -> None:
    """The JobQueue's hourly clean-up (a failure reaches the error handler and the next run happens anyway)."""
    await purge(context.bot_data.settings, context.bot_data.running.storage)


async def _fetch_catalogue(settings: Settings) -> None:
    """First start with no presets: download the default catalogue in the background."""
    from bot.presets.fetch import fetch_catalogue

    report = await asyncio.to_thread(fetch_catalogue, settings.styles_dir, user_agent=settings.http_user_agent)
    log.info("preset catalogue: %s", report.summary())


async def _register_commands(app: App) -> None:
    """The command menu, per scope and language (in the background: Telegram being slow must not delay the start).

    English is the default for every language the bot does not speak; the others follow, each for its own users.
    """
    # Each catalogue is compiled on first use (tens of ms): here, off the loop, not in a user's first update.
    await asyncio.to_thread(lambda: [i18n.translator(lang) for lang in i18n.LANGUAGES])
    for lang in i18n.LANGUAGES:
        code = None if lang == i18n.SOURCE else lang
        for commands, scope in (
            (handlers.PRIVATE_COMMANDS, BotCommandScopeAllPrivateChats()),
            (handlers.GROUP_COMMANDS, BotCommandScopeAllGroupChats()),
        ):
            menu = [BotCommand(name, texts.text(description, lang)) for name, description in commands]
            await app.bot.set_my_commands(menu, scope=scope, language_code=code)


async def _post_shutdown(app: App) -> None:
    """Stop the ops server, the workers, the notifier and the background tasks, and close the database."""
    services = app.bot_data.services
    if services is None:
        return
    if services.ops is not None:
        await services.ops.stop()
    await services.background.cancel_all()
    await services.dispatcher.stop()
    await services.notifier.close()
    if services.instant is not None:
        await services.instant.close()
    await services.storage.close()


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments of Updater.start_webhook (and run_webhook): listen locally on the public URL's path."""
    assert settings.webhook_url is not None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urllib.parse.urlsplit(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret,
        "allowed_updates": Update.ALL_TYPES,
    }


def run(settings: Settings) -> None:
    """Long-poll, or serve the webhook when STYLEBOT_WEBHOOK_URL is set, until interrupted."""
    # The token lives in the settings object only: worker processes, which decode untrusted images,
    # are spawned with this environment and must not inherit it.
    os.environ.pop("TELEGRAM_BOT_TOKEN", None)
    os.environ.pop("STYLEBOT_WEBHOOK_SECRET", None)
    app = build_application(settings)
    if settings.webhook_url:
        log.info("receiving updates by webhook at %s", settings.webhook_url)
        app.run_webhook(**webhook_options(settings))
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES, timeout=settings.poll_timeout_s)
