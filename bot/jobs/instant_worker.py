"""An instant-lane process: loads the feed-forward network once and paints requests from its pipe, one at a time.

It imports onnxruntime, never TensorFlow; the bot process imports neither.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# Below the bot (which must answer at once) and above the Gatys workers (a picture is due within a second).
LANE_NICENESS = 5


@dataclass(frozen=True)
class InstantRequest:
    """Bot -> lane: paint `content` in `styles` with these StyleParams fields, into the JPEG `out`."""

    content: str
    styles: tuple[str, ...]
    params: dict[str, Any]
    out: str


@dataclass(frozen=True)
class InstantReply:
    """Lane -> bot: "ready" once loaded, "unavailable" when the network cannot run here, "done" or "failed"."""

    kind: str
    message: str = ""


def instant_main(conn: Connection, lane_id: int, model_dir: str | None, env: dict[str, str]) -> None:
    """Entry point of a lane process: say whether the model loaded, then serve until the pipe closes."""
    os.environ.update(env)
    os.nice(LANE_NICENESS)
    level = os.environ.get("STYLEBOT_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format=f"%(asctime)s instant{lane_id} %(levelname)s %(message)s")
    try:
        stylizer = load(model_dir)
    except Exception as exc:  # no model, no onnxruntime, a broken file: the bot skips instant pictures
        conn.send(InstantReply("unavailable", str(exc)))
        return
    conn.send(InstantReply("ready"))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the bot is gone
            return
        if request is None:
            return
        conn.send(serve(stylizer, request))


def load(model_dir: str | None) -> Any:
    """The FastStylizer, its sessions opened (the first picture must not pay for it)."""
    from engine.fast import fast_stylizer

    return fast_stylizer(model_dir)


def serve(stylizer: Any, request: InstantRequest) -> InstantReply:
    """Paint one request into its file; never raises."""
    from engine.imaging import encode_image
    from engine.params import StyleParams

    try:
        params = StyleParams(**request.params)
        result = stylizer.run(request.content, list(request.styles), params)
        write_atomically(Path(request.out), encode_image(result.image, "jpeg"))
    except Exception as exc:  # a damaged photo, a full disk: this picture is skipped, the lane goes on
        log.warning("instant picture failed: %s: %s", type(exc).__name__, exc)
        return InstantReply("failed", f"{type(exc).__name__}: {exc}")
    return InstantReply("done")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file (the notifier may be reading the previous picture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
