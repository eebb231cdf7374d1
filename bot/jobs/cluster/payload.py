"""What a task carries (the photos themselves, base64 in JSON) and how each side turns it into files."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

from bot.core.errors import ClipRefusedError
from bot.jobs.protocol import ClipRequest, RunJob

# A clip travels inside its task; Redis keeps the task (a third larger as base64) until a worker acknowledges it.
CLIP_PAYLOAD_MAX_BYTES = 20 * 1000 * 1000

# The instant network sees a style at 256 px (engine.fast.STYLE_SIDE); twice that keeps the colour matching of
# "keep colours" faithful while a 20 MB painting does not travel whole.
STYLE_SEND_SIDE = 512


def encode_request(request: RunJob) -> dict[str, Any]:
    """The task's argument: the content photo at the job's size (a clip as it is), the styles, the settings.

    A clip over CLIP_PAYLOAD_MAX_BYTES raises ClipRefusedError: Redis holds each task whole, base64 and all.
    """
    if request.clip is not None:
        content = _clip_bytes(Path(request.content_path))
    else:
        content = _content_bytes(Path(request.content_path), int(request.params.get("max_side") or 0))
    return {
        "job_id": request.job_id,
        "content": _b64(content),
        "clip": dataclasses.asdict(request.clip) if request.clip is not None else None,
        # Styles always travel as bytes (presets included): workers need no copy of the catalogue.
        "styles": [_b64(Path(p).read_bytes()) for p in request.style_paths],
        "params": request.params,
        "hd": request.hd,
        "report_every": request.report_every,
        "preview_side": request.preview_side,
        # The warm start's picture (the instant result the bot painted) travels with the task too.
        "init": _b64(Path(request.init_path).read_bytes()) if request.init_path else None,
    }


def encode_instant(content: Path, styles: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    """An instant task's argument: the photo at the picture's size, the styles at most STYLE_SEND_SIDE px."""
    return {
        "content": _b64(_content_bytes(content, int(params.get("max_side") or 0))),
        "styles": [_b64(_content_bytes(path, STYLE_SEND_SIDE)) for path in styles],
        "params": params,
    }


def decode_instant(payload: dict[str, Any]) -> tuple[bytes, list[bytes], dict[str, Any]]:
    """The photo, the styles and the StyleParams fields of an instant task."""
    params = {key: _tuples(value) for key, value in payload["params"].items()}
    return base64.b64decode(payload["content"]), [base64.b64decode(s) for s in payload["styles"]], params


def decode_request(payload: dict[str, Any], work_dir: Path) -> RunJob:
    """Write a task's images under `work_dir` and describe the job with those local paths."""
    work_dir.mkdir(parents=True, exist_ok=True)
    data = base64.b64decode(payload["content"])
    clip = ClipRequest(**payload["clip"]) if payload.get("clip") else None
    # The engine reads an animated sticker (gzipped Lottie) by its .tgs suffix.
    content = work_dir / (
        "content.img" if clip is None else "content.tgs" if data[:2] == b"\x1f\x8b" else "content.clip"
    )
    content.write_bytes(data)
    styles = []
    for i, data in enumerate(payload["styles"]):
        path = work_dir / f"style_{i}.img"
        path.write_bytes(base64.b64decode(data))
        styles.append(str(path))
    init_path = None
    if payload.get("init"):
        init = work_dir / "init.img"
        init.write_bytes(base64.b64decode(payload["init"]))
        init_path = str(init)
    return RunJob(
        job_id=int(payload["job_id"]),
        content_path=str(content),
        style_paths=tuple(styles),
        params={key: _tuples(value) for key, value in payload["params"].items()},
        out_dir=str(work_dir / "out"),
        hd=bool(payload["hd"]),
        report_every=int(payload["report_every"]),
        preview_side=int(payload["preview_side"]),
        init_path=init_path,
        clip=clip,
    )


def _clip_bytes(path: Path) -> bytes:
    """A clip's bytes, refused (ClipRefusedError) over the size a Redis task may carry."""
    size = path.stat().st_size
    if size > CLIP_PAYLOAD_MAX_BYTES:
        raise ClipRefusedError("file_too_large", size=f"{size / 1e6:.1f}", limit=f"{CLIP_PAYLOAD_MAX_BYTES / 1e6:.0f}")
    return path.read_bytes()


def _content_bytes(path: Path, max_side: int) -> bytes:
    """The photo as stored when it is small enough, else scaled to the job's longest side (the engine would anyway)."""
    from engine.imaging import encode_image, fit_longest_side, load_image

    raw = path.read_bytes()
    if max_side <= 0:
        return raw
    image = load_image(raw)
    if max(image.size) <= max_side:
        return raw
    return encode_image(fit_longest_side(image, max_side), "jpeg")


def _tuples(value: Any) -> Any:
    """JSON turns StyleParams' tuples into lists; turn them back (the engine validates tuples)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _b64(data: bytes) -> str:
    """Bytes as JSON can carry them."""
    return base64.b64encode(data).decode("ascii")
