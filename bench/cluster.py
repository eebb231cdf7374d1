"""Benchmark: the Celery executor against the local pool, driven through the executor port (no Telegram).

python bench/cluster.py [--jobs 12] [--steps 20] [--side 48]

Measures, with random VGG19 weights and tiny images on the CPU:
  * per-job overhead: wall time from submit to JobDone minus the painting time the worker reports (ms, median),
    jobs run one at a time on one worker;
  * throughput: a fixed batch of jobs with 1 and 2 worker processes, fed only to idle workers (as the dispatcher
    does);
  * fairness: user A queues ten jobs, then user B one; B's wait until its job starts, when the bot feeds idle
    workers from a round-robin queue, against pushing every job into the broker at once.
Needs redis-server on PATH. Prints a table (this is a script, not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

from PIL import Image  # noqa: E402

from bot.core.models import JobParams  # noqa: E402
from bot.core.recipes import style_params  # noqa: E402
from bot.jobs.protocol import (  # noqa: E402
    Event,
    JobCancelled,
    JobDone,
    JobFailed,
    JobProgress,
    RunJob,
    WorkerCrashed,
    WorkerFatal,
)
from testing.cluster_harness import ClusterWorker, RedisServer  # noqa: E402

PARAMS = JobParams(quality="standard", strength="medium", keep_colors=False, seed=1)


class Driver:
    """Feeds an executor and records when each job started (first progress) and ended."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.started: dict[int, float] = {}
        self.done: dict[int, float] = {}
        self.seconds: dict[int, float] = {}
        self.lost: Event | None = None  # an event after which some job will never be done
        self.changed = asyncio.Event()

    def on_event(self, event: Event) -> None:
        """Record progress and outcomes."""
        now = time.perf_counter()
        if isinstance(event, JobProgress):
            self.started.setdefault(event.job_id, now)
        elif isinstance(event, JobDone):
            self.done[event.job_id] = now
            self.seconds[event.job_id] = event.seconds
        elif isinstance(event, JobFailed | JobCancelled | WorkerCrashed | WorkerFatal):
            # Some job will never be done (the dispatcher would retry or fail it): stop instead of waiting it out.
            self.lost = event
        self.changed.set()

    async def wait(self, predicate: Any, timeout: float = 600) -> None:
        """Wait until predicate() holds; RuntimeError as soon as a job is lost."""
        deadline = time.perf_counter() + timeout
        while not predicate():
            if self.lost is not None:
                raise RuntimeError(f"a benchmark job will not be done: {self.lost}")
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("benchmark jobs did not finish")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(0.2, remaining))

    async def run_fed(self, queue: deque[RunJob]) -> None:
        """Submit jobs only to idle workers until all are done (the dispatcher's way)."""
        ids = {job.job_id for job in queue}
        while queue or not ids <= self.done.keys():
            while queue and self.executor.idle_workers() > 0:
                if not await self.executor.submit(queue[0]):
                    break
                queue.popleft()
            await self.wait(lambda: (bool(queue) and self.executor.idle_workers() > 0) or ids <= self.done.keys(), 600)


def make_job(job_id: int, files: Path, steps: int, side: int) -> RunJob:
    """A tiny job."""
    content, style = files / "content.jpg", files / "style.jpg"
    if not content.exists():
        Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 60).convert("RGB").save(content)
        Image.radial_gradient("L").convert("RGB").resize((64, 64)).save(style)
    # From the photo, not the instant picture: this measures the executors, not the instant network.
    params = dataclasses.asdict(style_params(PARAMS, (1.0,), max_side=side, steps=steps, warm_start=False))
    out = files / "out" / str(job_id)
    return RunJob(job_id, str(content), (str(style),), params, str(out), report_every=1)


async def with_executor(kind: str, workers: int, server: RedisServer | None, body: Any) -> Any:
    """Start an executor of `kind` with `workers` processes, run body(driver), stop everything."""
    cluster: list[ClusterWorker] = []
    try:  # the worker processes go whatever fails, or they would outlive the script
        if kind == "celery":
            from bot.jobs.cluster.executor import CeleryExecutor

            assert server is not None
            # The workers' default heartbeat (a key that lives 6 s), not the failure tests' 0.5 s (2 s): on a
            # loaded machine a worker was seen beating 1.1 s late, and a worker taken for lost mid-job has its
            # outcome dropped (the bot would paint that job again; here it would never be done).
            cluster = [
                ClusterWorker(server, server.directory, STYLEBOT_WORKER_HEARTBEAT_S="2").start(wait=False)
                for _ in range(workers)
            ]
            for worker in cluster:
                worker.wait_state("idle", 300)
            executor: Any = CeleryExecutor(server.url, 3600)
            await executor.reattach(frozenset())
        else:
            from bot.jobs.pool import PoolConfig, WorkerPool

            executor = WorkerPool(PoolConfig(workers, "vgg19", "random", worker_env={"TF_CPP_MIN_LOG_LEVEL": "3"}))
        driver = Driver(executor)
        executor.start(driver.on_event)
        try:
            await driver.wait(lambda: executor.idle_workers() >= workers, 300)
            return await body(driver)
        finally:
            await executor.stop()
    finally:
        for worker in cluster:
            worker.stop()


async def overhead(driver: Driver, files: Path, side: int, count: int = 8) -> float:
    """Median ms from submit to JobDone beyond the painting itself, one job at a time (first job is warm-up)."""
    extra = []
    for i in range(count + 1):
        job = make_job(1000 + i, files, 2, side)
        began = time.perf_counter()
        assert await driver.executor.submit(job)
        await driver.wait(lambda job=job: job.job_id in driver.done)
        if i:
            extra.append((driver.done[job.job_id] - began - driver.seconds[job.job_id]) * 1000)
    return statistics.median(extra)


async def throughput(driver: Driver, files: Path, jobs: int, steps: int, side: int) -> float:
    """Jobs a minute for a batch fed to idle workers."""
    queue = deque(make_job(2000 + i, files, steps, side) for i in range(jobs))
    began = time.perf_counter()
    await driver.run_fed(queue)
    return jobs / (time.perf_counter() - began) * 60


async def fairness(driver: Driver, files: Path, steps: int, side: int, all_at_once: bool) -> float:
    """Seconds user B's single job waits to start while user A has ten queued (round-robin or all in the broker)."""
    a_jobs = [make_job(3000 + i + (100 if all_at_once else 0), files, steps, side) for i in range(10)]
    b_job = make_job(3999 - (1 if all_at_once else 0), files, steps, side)
    began = time.perf_counter()
    if all_at_once:  # what a bot without slot accounting would do: everything goes into the broker in order
        for job in [*a_jobs, b_job]:
            await driver.executor.submit(job)
        await driver.wait(lambda: b_job.job_id in driver.done)
    else:  # round-robin between users (what SQLite's claim order does), fed only to idle workers
        queue = deque([a_jobs[0], b_job, *a_jobs[1:]])
        await driver.run_fed(queue)
    return driver.started[b_job.job_id] - began


async def main_async(args: argparse.Namespace) -> None:
    """Run every measurement and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        files, rows = Path(tmp), []
        server = RedisServer(files / "redis").start()
        try:
            for kind in ("local", "celery"):
                ms = await with_executor(kind, 1, server, lambda d: overhead(d, files, args.side))
                rows.append((kind, "per-job overhead, 1 worker", f"{ms:.0f} ms"))
                print(*rows[-1], sep="\t", flush=True)  # as measured, in case a later row never comes
            for workers in (1, 2):
                for kind in ("local", "celery"):
                    rate = await with_executor(
                        kind, workers, server, lambda d: throughput(d, files, args.jobs, args.steps, args.side)
                    )
                    rows.append((kind, f"throughput, {workers} worker(s), {args.jobs} jobs", f"{rate:.1f} jobs/min"))
            for all_at_once in (False, True):
                wait = await with_executor(
                    "celery", 2, server, lambda d, now=all_at_once: fairness(d, files, args.steps, args.side, now)
                )
                how = "all 11 pushed to the broker" if all_at_once else "fed to idle slots, round-robin"
                rows.append(("celery", f"fairness: B's wait, A has 10 ({how})", f"{wait:.1f} s"))
        finally:
            server.stop()
    print(f"{args.side} px, {args.steps} L-BFGS steps a job (overhead: 2 steps), random VGG19, CPU")
    print(f"{'executor':<9} {'measure':<62} {'value':>14}")
    for kind, what, value in rows:
        print(f"{kind:<9} {what:<62} {value:>14}")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--side", type=int, default=48)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
