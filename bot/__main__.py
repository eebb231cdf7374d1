"""`python -m bot` / `stylebot`: run the bot; `stylebot fetch-styles`: install the preset catalogue."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.config import ConfigError, Settings

log = logging.getLogger("stylebot")

USAGE = (
    "usage: stylebot [run | fetch-styles [--help] | worker [--help]]\n"
    "Runs the Telegram bot with long polling; configure it with environment variables (.env.example).\n"
    "`stylebot worker` runs painting workers for STYLEBOT_EXECUTOR=celery (on this or another machine).\n"
)
# What an operator must fix (configuration, token, network) exits with this, like argparse's usage errors.
EXIT_SETUP = 2


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-command (default: run the bot)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "fetch-styles":
        from bot.presets.fetch import main as fetch_main

        return fetch_main(args[1:])
    if args and args[0] == "worker":
        from bot.jobs.cluster.worker import main as worker_main
        from bot.ops.worker_metrics import serve_worker_metrics

        return worker_main(args[1:], serve_worker_metrics)
    if args and args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0
    if args and args != ["run"]:
        sys.stderr.write(USAGE)
        return _fail(f"unknown arguments: {' '.join(args)}")
    try:
        settings = Settings.from_env()  # the environment over .env (each sub-command reads its own subset)
    except ConfigError as exc:
        return _fail(str(exc))
    from bot.telegram.app import configure_logging, run
    from bot.telegram.startup import check_telegram

    configure_logging(settings, settings.log_level_number)
    try:
        problem = asyncio.run(check_telegram(settings))
    except KeyboardInterrupt:
        return 130
    if problem is not None:
        return _fail(problem)
    run(settings)
    return 0


def _fail(message: str) -> int:
    """Say what to fix in one line on stderr, no traceback; the exit status for setup errors."""
    sys.stderr.write(f"stylebot: error: {message}\n")
    return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
