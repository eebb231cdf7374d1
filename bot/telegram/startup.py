"""The start-up check: one getMe call, and a line saying what to fix when it fails."""

from __future__ import annotations

import logging
import traceback

from telegram import Bot
from telegram.error import Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from bot.config import Settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 15.0


async def check_telegram(settings: Settings, timeout: float = CHECK_TIMEOUT_S) -> str | None:
    """Call getMe once: None when Telegram accepts the token, else one line that says what to check."""
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout)
    bot = Bot(settings.token, base_url=settings.api_url, base_file_url=settings.file_api_url, request=request)
    try:
        async with bot:  # initialize() calls getMe
            log.info("Telegram accepts the token: this is @%s", bot.username)
            return None
    except TelegramError as exc:
        # A traceback helps only whoever debugs the bot; PTB's own messages may contain the token.
        log.debug("getMe failed:\n%s", settings.redact("".join(traceback.format_exception(exc))))
        return settings.redact(explain(exc, settings.api_url, timeout))


def explain(exc: TelegramError, api_url: str, timeout: float = CHECK_TIMEOUT_S) -> str:
    """What an error of the getMe call means for the operator, in one line."""
    if isinstance(exc, InvalidToken):
        return "Telegram refused the token: check TELEGRAM_BOT_TOKEN (from @BotFather)"
    if isinstance(exc, TimedOut):  # before NetworkError, of which it is a kind
        return f"Telegram at {api_url} did not answer in {timeout:g} s: check the network, a proxy or TELEGRAM_API_URL"
    if isinstance(exc, NetworkError):
        return f"cannot reach Telegram at {api_url}: check the network or TELEGRAM_API_URL ({_first_line(exc)})"
    if isinstance(exc, RetryAfter):
        return f"Telegram asks this bot to wait {exc.retry_after} before calling again: start it later"
    if isinstance(exc, Forbidden):
        return f"Telegram at {api_url} refused access ({_first_line(exc)}): check TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL"
    return f"Telegram at {api_url} answered getMe with an error ({_first_line(exc)}): check TELEGRAM_API_URL"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line report."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
