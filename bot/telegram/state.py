"""What the Application holds for its handlers (PTB's typed bot_data): settings first, the services once started."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Settings
from bot.core.sliding_window import SlidingWindow
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.executor_port import Executor
from bot.jobs.instant import InstantPainter
from bot.jobs.supervise import TaskSet
from bot.ops.health import Probes
from bot.ops.metrics import Metrics, WorkerBoard
from bot.ops.server import OpsServer
from bot.service import StyleService
from bot.store.storage import Storage
from bot.telegram.notifier import TelegramNotifier

# A flood's refusals (the cap, a full queue) are said once per chat in this window: Telegram allows about one
# message a second in a chat, and the flooder learns nothing new from the second.
REFUSAL_WINDOW_S = 30.0


@dataclass
class Services:
    """Everything started by post_init, stopped by post_shutdown."""

    storage: Storage
    dispatcher: Dispatcher
    notifier: TelegramNotifier
    service: StyleService
    probes: Probes
    background: TaskSet
    instant: InstantPainter | None
    ops: OpsServer | None = None


class BotData:
    """The Application's bot_data: set up by build_application, completed by post_init."""

    def __init__(self) -> None:  # PTB makes it with no arguments: build_application configures it
        self._settings: Settings | None = None
        self._metrics: Metrics | None = None
        self.executor: Executor | None = None  # a test's executor; None: the one the settings name
        self.workers = WorkerBoard()
        self.services: Services | None = None
        self.refusals = SlidingWindow(1, REFUSAL_WINDOW_S)  # chats told of a refusal within the window

    def configure(self, settings: Settings, metrics: Metrics, executor: Executor | None) -> None:
        """What build_application knows before anything starts."""
        self._settings, self._metrics, self.executor = settings, metrics, executor

    @property
    def settings(self) -> Settings:
        """The bot's settings."""
        if self._settings is None:
            raise RuntimeError("the Application was not built with build_application")
        return self._settings

    @property
    def metrics(self) -> Metrics:
        """The bot's Prometheus metrics."""
        if self._metrics is None:
            raise RuntimeError("the Application was not built with build_application")
        return self._metrics

    @property
    def running(self) -> Services:
        """The started services; only handlers and jobs that run after post_init read them."""
        if self.services is None:
            raise RuntimeError("the bot's services are not started yet")
        return self.services


Context = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
App = Application[ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], BotData, Any]
