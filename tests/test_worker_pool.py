"""The local worker pool's own life: stopping it while a worker still loads the model."""

from __future__ import annotations

import time

import pytest

from bot.jobs.pool import PoolConfig, WorkerPool


@pytest.mark.slow  # starts a worker process
async def test_stop_does_not_wait_for_a_worker_still_loading_the_model() -> None:
    # Found: Ctrl-C right after start-up (or a test's teardown) waited the whole 10 s stop timeout, because
    # a worker importing TensorFlow reads no Shutdown until its model is loaded; it has no job to finish.
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    pool = WorkerPool(PoolConfig(1, "vgg19", "random", worker_env=env))
    pool.start(lambda event: None)
    started = time.monotonic()
    await pool.stop()  # the worker is still importing TensorFlow, which alone takes seconds
    assert time.monotonic() - started < 2
