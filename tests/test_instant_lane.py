"""The local instant lane: processes of their own that paint instant pictures, replaced when they die."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs.instant import LocalInstantLane
from engine.params import StyleParams
from testing.bot_harness import photo_bytes

pytestmark = pytest.mark.slow  # each test starts lane processes
PARAMS = StyleParams(method="fast", max_side=64)


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[Path, Path]:
    """A photo and a painting on disk."""
    content, style = tmp_path / "content.jpg", tmp_path / "style.jpg"
    content.write_bytes(photo_bytes((96, 64), seed=1))
    style.write_bytes(photo_bytes((64, 64), seed=2))
    return content, style


async def test_a_picture_is_painted_in_another_process(pictures: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the instant lane runs on onnxruntime")
    lane = LocalInstantLane(1)
    try:
        out = tmp_path / "out" / "instant.jpg"
        assert await lane.paint(pictures[0], [pictures[1]], PARAMS, out)
        with Image.open(out) as image:
            assert image.size == (64, 43)
        assert lane.pids() and os.getpid() not in lane.pids()
    finally:
        await lane.close()
    assert lane.pids() == []


async def test_a_killed_lane_answers_false_and_is_replaced(pictures: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the instant lane runs on onnxruntime")
    lane = LocalInstantLane(1)
    try:
        assert await lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "a.jpg")
        [first] = lane.pids()
        os.kill(first, signal.SIGKILL)
        # The request meets a dead process: answered False, not left hanging.
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "b.jpg"), 30) is False
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "c.jpg"), 120)
        assert lane.pids() and lane.pids() != [first]
        assert lane.unavailable is None
    finally:
        await lane.close()


async def test_a_stuck_lane_is_killed_and_replaced(pictures: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the instant lane runs on onnxruntime")
    lane = LocalInstantLane(1, paint_timeout_s=1.0)
    try:
        assert await lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "a.jpg")
        [first] = lane.pids()
        os.kill(first, signal.SIGSTOP)  # alive but answering nothing
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "b.jpg"), 30) is False
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "c.jpg"), 120)
        assert lane.pids() != [first]
    finally:
        await lane.close()


async def test_without_the_model_the_lane_says_why_and_answers_false_at_once(
    pictures: tuple[Path, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    lane = LocalInstantLane(1, str(empty))  # the engine reads no variable: the folder is passed in
    try:
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "a.jpg"), 120) is False
        assert lane.unavailable is not None and "arbitrary_predict.onnx" in lane.unavailable
        assert await asyncio.wait_for(lane.paint(pictures[0], [pictures[1]], PARAMS, tmp_path / "b.jpg"), 1) is False
    finally:
        await lane.close()
