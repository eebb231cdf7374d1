"""One small HTTP server on the bot's event loop: /metrics for Prometheus, /healthz and /readyz for probes."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.ops.health import Probes

log = logging.getLogger(__name__)


class _Base(RequestHandler):
    """Shared by the endpoints: the probes, and JSON answers."""

    def initialize(self, probes: Probes) -> None:
        """Tornado passes the probes to every request."""
        self.probes = probes

    def answer(self, ok: bool, body: dict[str, Any]) -> None:
        """200 with the body as JSON, or 503."""
        self.set_status(200 if ok else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def log_exception(self, *args: Any) -> None:
        """Errors go to our log, not Tornado's access log."""
        log.exception("ops endpoint %s failed", self.request.path)


class _Metrics(_Base):
    """GET /metrics: the Prometheus text format."""

    async def get(self) -> None:
        """Refresh the gauges, then expose everything."""
        await self.probes.refresh()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(self.probes.metrics.exposition())


class _Live(_Base):
    """GET /healthz: liveness."""

    async def get(self) -> None:
        """200 when the loop and the database answer."""
        self.answer(*await self.probes.live())


class _Ready(_Base):
    """GET /readyz: readiness."""

    async def get(self) -> None:
        """200 when a worker can paint."""
        self.answer(*self.probes.ready())


class OpsServer:
    """Serves the endpoints on host:port (port 0: any free port, see `port`)."""

    def __init__(self, probes: Probes, host: str, port: int) -> None:
        routes = [(path, handler, {"probes": probes}) for path, handler in _ROUTES]
        # No access log per request: Prometheus and the probes would fill the log every few seconds.
        self._app = Application(routes, log_function=lambda handler: None)
        self._host, self._port = host, port
        self._server: HTTPServer | None = None
        self.port = port

    def start(self) -> None:
        """Bind and serve on the running event loop."""
        sockets = bind_sockets(self._port, self._host, family=socket.AF_UNSPEC)
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(self._app)
        self._server.add_sockets(sockets)
        log.info("metrics and health on http://%s:%d/metrics, /healthz, /readyz", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


_ROUTES: list[tuple[str, type[_Base]]] = [("/metrics", _Metrics), ("/healthz", _Live), ("/readyz", _Ready)]
