"""The instant (feed-forward) network in the bot process: previews and instant jobs never wait for a worker."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.errors import WeightsUnavailableError
from engine.params import StyleParams

log = logging.getLogger(__name__)


class InstantPainter:
    """Runs engine's fast method on one thread (onnxruntime; no TensorFlow in the bot process)."""

    def __init__(self, model_dir: str | None = None) -> None:
        self._model_dir = model_dir
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="instant")
        self.unavailable: str | None = None  # why the network cannot run here, once known

    async def paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> bool:
        """Write the instant picture to `out` (a JPEG); False when it could not be made (logged)."""
        if self.unavailable is not None:
            return False
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._thread, self._paint, content, styles, params, out)
        except Exception as exc:  # a missing model or a bad picture: the Gatys pass still runs
            if isinstance(exc, ImportError | WeightsUnavailableError | OSError):
                self.unavailable = str(exc)
                log.warning("instant previews are off: %s", exc)
            else:
                log.warning("instant picture failed: %s", exc)
            return False
        return True

    def _paint(self, content: Path, styles: list[Path], params: StyleParams, out: Path) -> None:
        """The blocking part, on the painter's thread."""
        from engine.fast import fast_stylizer
        from engine.imaging import encode_image

        result = fast_stylizer(self._model_dir).run(str(content), [str(s) for s in styles], params)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(encode_image(result.image, "jpeg"))
        os.replace(tmp, out)  # the notifier may be reading the previous picture

    def close(self) -> None:
        """Stop the thread once the current picture is done."""
        self._thread.shutdown(wait=False, cancel_futures=True)
