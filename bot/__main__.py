"""`python -m bot` / `stylebot`: run the bot; `stylebot fetch-styles`: install the preset catalogue."""

from __future__ import annotations

import logging
import sys

from bot.config import ConfigError, Settings, environment

log = logging.getLogger("stylebot")


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-command (default: run the bot)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "fetch-styles":
        from bot.presets.fetch import main as fetch_main

        return fetch_main(args[1:])
    if args and args[0] in ("-h", "--help"):
        sys.stderr.write(
            "usage: stylebot [run | fetch-styles [--help]]\n"
            "Runs the Telegram bot with long polling; configure it with environment variables (.env.example).\n"
        )
        return 0
    try:
        settings = Settings.from_env(environment())
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    from bot.telegram.app import configure_logging, run

    configure_logging(settings)
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
