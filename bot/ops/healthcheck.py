"""`python -m bot.ops.healthcheck`: the container's HEALTHCHECK, exit 0 when /healthz on the metrics port answers 200.

The bot answers it after checking its event loop and database; a cluster worker's metrics server answers every path.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from bot.config import CommonSettings, ConfigError

SHOWN_BYTES = 500  # of the answer, in `docker inspect`: the bot's JSON whole, a worker's metrics cut short
TIMEOUT_S = 4.0  # under Docker's default 30 s, and under the 5 s the Dockerfile gives the check


def main() -> int:
    """GET /healthz on this container's metrics port; a container without one has nothing to check."""
    try:
        settings = CommonSettings.from_env()
    except ConfigError as exc:
        sys.stdout.write(f"{exc}\n")
        return 1
    port = settings.metrics_port
    if port is None:
        sys.stdout.write("STYLEBOT_METRICS_PORT is not set: no health endpoint to check\n")
        return 0
    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::") else settings.metrics_host
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(f"http://{host}:{port}/healthz", timeout=TIMEOUT_S) as response:
            sys.stdout.write(response.read(SHOWN_BYTES).decode(errors="replace") + "\n")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        sys.stdout.write(exc.read(SHOWN_BYTES).decode(errors="replace") + "\n")
        return 1
    except OSError as exc:
        sys.stdout.write(f"no answer on port {port}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
