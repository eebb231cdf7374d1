"""Speed of the instant method (engine/fast.py) on this machine: a whole run per output size.

python bench/instant_speed.py [--sizes 256 512 1024] [--repeats 7]

Times FastStylizer.run end to end (decoded photo and painting in memory -> PIL result: resize, style vector,
transformer, conversion), after one warm-up run per size. Reports the minimum (the machine's own speed; other
processes only ever add time) and the median, plus the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and bench/engine.py would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "images"


def main() -> None:
    """Print one row per size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--content", default="tubingen")
    parser.add_argument("--style", default="starry_night")
    args = parser.parse_args()

    from engine.fast import FastStylizer
    from engine.imaging import load_image
    from engine.params import StyleParams

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    stylizer = FastStylizer()
    load_s = time.perf_counter() - start
    photo = load_image(SHARED / "content" / f"{args.content}.jpg")
    painting = load_image(SHARED / "styles" / f"{args.style}.jpg")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, model {stylizer.source}, load {load_s:.2f} s")
    print(f"{args.content} {photo.size[0]}x{photo.size[1]} + {args.style}; {args.repeats} runs after 1 warm-up")
    print("| max side | output | min s | median s |")
    print("|---:|---|---:|---:|")
    for side in args.sizes:
        params = StyleParams(method="fast", max_side=side)
        result = stylizer.run(photo, painting, params)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            stylizer.run(photo, painting, params)
            times.append(time.perf_counter() - t0)
        w, h = result.image.size
        print(f"| {side} | {w}x{h} | {min(times):.3f} | {statistics.median(times):.3f} |")
    print(f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
