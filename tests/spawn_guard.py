"""Keeps the `slow` marker honest: in the fast subset, a test that starts a process fails, naming the process.

Three nets, because no single one sees everything: an audit hook (subprocess, os.fork, os.posix_spawn,
os.system), a wrapper around multiprocessing's Process.start (its spawn context raises no audit event), and
the children this process has at the end of each phase that it did not have at the start (anything else, such
as a resource tracker). Children that already ran before a phase, e.g. a module fixture's server, are not new.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from multiprocessing.process import BaseProcess
from typing import Any

import psutil
import pytest
from _pytest.mark.expression import Expression

_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system"})


class SpawnGuard:
    """A pytest plugin: records the processes each test phase starts; fails the phase unless marked slow."""

    @staticmethod
    def wanted(markexpr: str) -> bool:
        """Whether this run's -m expression leaves out tests marked only `slow`."""
        return bool(markexpr) and not Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow")

    def __init__(self) -> None:
        self._seen: list[str] = []
        self._children: set[int] = set()
        sys.addaudithook(self._audit)  # audit hooks cannot be removed: one guard per session
        original = BaseProcess.start

        def start(process: BaseProcess) -> None:
            self._seen.append(f"multiprocessing {process.name}")
            original(process)

        BaseProcess.start = start  # type: ignore[method-assign]

    def pytest_runtest_logstart(self) -> None:
        """A test begins: what came before (collection, the last test) is not its doing."""
        self._reset()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Fail a phase (setup, call, teardown) of a test not marked `slow` that started a process."""
        report = yield
        spawned = self._spawned()
        self._reset()  # the next phase counts from here
        if spawned and not report.failed and item.get_closest_marker("slow") is None:
            report.outcome = "failed"
            report.longrepr = "started a process but is not marked slow:\n  " + "\n  ".join(spawned)
        return report

    def _reset(self) -> None:
        self._seen.clear()
        self._children = _children()

    def _spawned(self) -> list[str]:
        """What was started since the last reset: audited calls, multiprocessing starts, new children."""
        seen = list(self._seen)
        for pid in sorted(_children() - self._children):
            try:
                seen.append(f"child {pid}: {' '.join(psutil.Process(pid).cmdline())[:200]}")
            except psutil.Error:
                seen.append(f"child {pid}")
        return seen

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event in _EVENTS:
            self._seen.append(f"{event} {args[:2]!r}"[:300])


def _children() -> set[int]:
    """This process's live descendants."""
    return {child.pid for child in psutil.Process().children(recursive=True)}
