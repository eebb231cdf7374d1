"""A real redis-server and real `stylebot worker` (Celery) processes for the cluster tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.jobs.cluster.keys import INFLIGHT
from testing.bot_harness import ROOT, BotProcess, free_port
from testing.fake_telegram import FakeTelegram

HEARTBEAT_S = "0.5"  # workers that die are noticed within ~1.5 s


class RedisServer:
    """redis-server on a free port with append-only persistence in a temporary folder; restartable."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
        self.directory, self.port = directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL for the bot and the workers."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or restart) the server and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--dir", str(self.directory)]
        with (self.directory / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: the server writes its append-only file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def client(self) -> redis.Redis:
        """A client for looking inside."""
        return redis.Redis.from_url(self.url)


class ClusterWorker:
    """`python -m bot worker` (one Celery worker process, CPU, random weights), killable."""

    def __init__(self, server: RedisServer, log_dir: Path, **env: str) -> None:
        self.server = server
        self.log = log_dir / f"worker-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "STYLEBOT_BROKER_URL": server.url,
            "STYLEBOT_WEIGHTS": "random",
            "STYLEBOT_WORKER_HEARTBEAT_S": HEARTBEAT_S,
            "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "STYLEBOT_WORKER_INSTANT": "off",  # the instant lane is one more process to load: only where tested
            **env,
        }
        self.env.pop("TELEGRAM_BOT_TOKEN", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ClusterWorker:
        """Start the worker; by default wait until its heartbeat says idle (model loaded)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        if wait:
            self.wait_state("idle", 120)
        return self

    def state(self) -> dict[str, object] | None:
        """What this worker's heartbeat says, or None."""
        assert self.proc is not None
        client = self.server.client()
        for key in client.scan_iter(match="stylebot:worker:*"):
            raw = client.get(key)
            if raw is not None and json.loads(raw).get("pid") == self.proc.pid:
                return dict(json.loads(raw))
        return None

    def wait_state(self, state: str, timeout: float) -> None:
        """Wait until the heartbeat reports `state`."""
        deadline = time.monotonic() + timeout
        while (self.state() or {}).get("state") != state:
            assert self.proc is not None
            if self.proc.poll() is not None and state != "fatal":
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker never reported {state!r}:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def lane_state(self) -> dict[str, object] | None:
        """What this machine's instant lane's heartbeat says (its process is a child of the worker), or None."""
        client = self.server.client()
        for key in client.scan_iter(match="stylebot:instant-lane:*"):
            raw = client.get(key)
            if raw is not None:
                return dict(json.loads(raw))
        return None

    def wait_lane(self, timeout: float = 120) -> None:
        """Wait until the instant lane says it is ready."""
        deadline = time.monotonic() + timeout
        while (self.lane_state() or {}).get("state") != "ready":
            if time.monotonic() > deadline:
                raise AssertionError(f"the instant lane never became ready:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def pause(self) -> None:
        """SIGSTOP: the process takes no task and paints no step until resumed (its heartbeat key stays until TTL)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.resume()  # a paused process would not act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        """What the worker logged."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def cluster_bot(fake: FakeTelegram, data: Path, server: RedisServer, **env: str) -> BotProcess:
    """A BotProcess using the Celery executor on `server` (not started)."""
    return BotProcess(fake, data, STYLEBOT_EXECUTOR="celery", STYLEBOT_BROKER_URL=server.url, **env)


def tasks_run(workers: list[ClusterWorker]) -> int:
    """How many paint tasks the workers finished painting (done, failed or cancelled), from their logs."""
    return sum(w.log_text().count(": JobDone") for w in workers)


def settled(server: RedisServer, workers: list[ClusterWorker], timeout: float = 60) -> None:
    """Wait until every job in flight has its outcome handed on and every live worker is idle.

    No further result can come after that: a worker runs a task only while the job's in-flight entry names it
    and is not done, so any copy of a task that Redis delivers again is skipped.
    """
    client, deadline = server.client(), time.monotonic() + timeout
    while True:
        flights = [json.loads(raw) for raw in client.hvals(INFLIGHT)]
        live = [w for w in workers if w.proc is not None and w.proc.poll() is None]
        if all(f.get("done") for f in flights) and all((w.state() or {}).get("state") == "idle" for w in live):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster never settled: in flight {flights}")
        time.sleep(0.1)
