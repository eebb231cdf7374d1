"""The command line: `python -m engine` as a real subprocess (a few runs), the rest in-process.

Failing runs stop before TensorFlow is imported, so they are cheap even as subprocesses; a successful
subprocess run pays ~5 s for the import. In-process runs share the test session's random VGG19.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from engine import cli
from engine.config import backbone_from_env, weights_from_env
from engine.params import StyleParams
from engine.progress import Losses, Progress

ImageFactory = Callable[..., Image.Image]
REPO_ROOT = Path(__file__).resolve().parent.parent


def _engine(*args: str | Path, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`python -m engine ARGS` with random weights, the repository importable, in `cwd`."""
    env = {
        **os.environ,
        "STYLEBOT_WEIGHTS": "random",
        "STYLEBOT_BACKBONE": "vgg19",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def inputs(tmp_path: Path, make_image: ImageFactory) -> tuple[Path, Path, Path]:
    """content.png (60×30), style.png and other.jpg in tmp_path."""
    content, style, other = tmp_path / "content.png", tmp_path / "style.png", tmp_path / "other.jpg"
    make_image(60, 30, seed=1).save(content)
    make_image(40, 40, seed=2, kind="style").save(style)
    make_image(36, 48, seed=3, kind="style").save(other)
    return content, style, other


# --- python -m engine, as a user runs it (5 subprocesses) ------------------------------------------------


@pytest.mark.slow  # starts a process
def test_run_writes_the_output_with_the_content_aspect(tmp_path: Path, inputs: tuple[Path, Path, Path]) -> None:
    content, style, other = inputs
    out = tmp_path / "out.png"
    proc = _engine(content, f"{style}:0.7", f"{other}:0.3", "--steps", "3", "--size", "32", "-o", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (32, 16)
    assert "RANDOM VGG19 WEIGHTS" in proc.stderr  # the random-weights warning reaches the user
    assert "100% step 3/3" in proc.stderr  # not a terminal: progress as log lines
    summary = [line for line in proc.stderr.splitlines() if line.startswith("wrote ")]
    assert len(summary) == 1, proc.stderr
    assert str(out) in summary[0] and "32x16" in summary[0] and "3 steps" in summary[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # starts a process
def test_a_text_file_as_content_is_one_error_line(tmp_path: Path, inputs: tuple[Path, Path, Path]) -> None:
    _, style, _ = inputs
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a picture\n")
    proc = _engine(notes, style, "-o", tmp_path / "out.jpg", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "notes.txt" in lines[0] and "content" in lines[0]
    assert not (tmp_path / "out.jpg").exists()


@pytest.mark.slow  # starts a process
def test_strength_out_of_range_names_the_range(tmp_path: Path, inputs: tuple[Path, Path, Path]) -> None:
    content, style, _ = inputs
    proc = _engine(content, style, "--strength", "5", "-o", tmp_path / "out.jpg", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: strength must be a number from 0 to 1; got 5.0"


@pytest.mark.slow  # starts a process
def test_unsupported_output_suffix(tmp_path: Path, inputs: tuple[Path, Path, Path]) -> None:
    content, style, _ = inputs
    proc = _engine(content, style, "-o", tmp_path / "out.gif", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: output file must end in .jpg, .jpeg or .png (got '.gif')"]


@pytest.mark.slow  # starts a process
def test_help_lists_every_option_with_its_default(tmp_path: Path) -> None:
    proc = _engine("--help", cwd=tmp_path)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    for option in (
        "--output",
        "--steps",
        "--size",
        "--max-side",
        "--content-weight",
        "--style-weight",
        "--tv-weight",
        "--strength",
        "--keep-colors",
        "--style-scale",
        "--init",
        "--init-noise",
        "--seed",
        "--optimizer",
        "--learning-rate",
        "--levels",
        "--backbone",
        "--weights",
        "--preview-dir",
        "--report-every",
        "--quiet",
        "--verbose",
    ):
        assert option in text, option
    assert "optimisation steps (default: 1000)" in text
    assert "(default: 512)" in text and "(default: 0.01)" in text
    assert "(default: random)" in text  # --weights follows STYLEBOT_WEIGHTS
    assert "starry.jpg:0.7" in text


# --- the blend-argument parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("starry.jpg", ("starry.jpg", None)),
        ("starry.jpg:0.7", ("starry.jpg", 0.7)),
        ("starry.jpg:2", ("starry.jpg", 2.0)),
        ("starry.jpg:0", ("starry.jpg", 0.0)),
        ("starry.jpg:1e-1", ("starry.jpg", 0.1)),
        (r"C:\art\wave.jpg", (r"C:\art\wave.jpg", None)),  # a drive letter is not a weight
        (r"C:\art\wave.jpg:0.25", (r"C:\art\wave.jpg", 0.25)),  # only after the last ':'
        ("dir:with:colons/wave.jpg", ("dir:with:colons/wave.jpg", None)),
        ("a:1/b.jpg:3", ("a:1/b.jpg", 3.0)),
        ("wave.jpg:", ("wave.jpg:", None)),  # nothing after ':' -> part of the name
        (":0.5", (":0.5", None)),  # nothing before ':' -> a (strange) name
    ],
)
def test_parse_style_arg(arg: str, expected: tuple[str, float | None]) -> None:
    assert cli.parse_style_arg(arg) == expected


@pytest.mark.parametrize("bad", ["-0.5", "nan", "inf", "-inf"])
def test_parse_style_arg_rejects_bad_weights(bad: str) -> None:
    with pytest.raises(cli.CliError, match="bad blend weight"):
        cli.parse_style_arg(f"starry.jpg:{bad}")


def test_an_existing_file_named_like_a_weight_stays_a_path(tmp_path: Path) -> None:
    odd = tmp_path / "scan:2"
    odd.write_bytes(b"x")
    assert cli.parse_style_arg(str(odd)) == (str(odd), None)


def test_parse_styles_mixes_weighted_and_unweighted() -> None:
    assert cli.parse_styles(["a.jpg", "b.jpg"]) == (["a.jpg", "b.jpg"], None)
    assert cli.parse_styles(["a.jpg:0.7", "b.jpg:0.3"]) == (["a.jpg", "b.jpg"], (0.7, 0.3))
    assert cli.parse_styles(["a.jpg:3", "b.jpg"]) == (["a.jpg", "b.jpg"], (3.0, 1.0))  # unweighted counts 1


# --- in-process: main() end to end (shares the session's random VGG19) ----------------------------------


def test_main_success_with_previews_jpeg_and_log_lines(
    tmp_path: Path,
    inputs: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STYLEBOT_WEIGHTS", "random")
    content, style, _ = inputs
    out, previews = tmp_path / "out.jpg", tmp_path / "previews"
    argv = [str(content), str(style), "--steps", "10", "--size", "48", "--report-every", "2"]
    code = cli.main([*argv, "--style-weight", "1000", "--preview-dir", str(previews), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (48, 24)
    names = sorted(p.name for p in previews.iterdir())
    assert names == [f"preview_{n:06d}.jpg" for n in (2, 4, 6, 8, 10)]
    with Image.open(previews / names[0]) as preview:
        assert preview.format == "JPEG" and max(preview.size) <= cli.PREVIEW_SIDE
    progress_lines = [line for line in err.splitlines() if "% step " in line]
    # Reports at steps 2, 4, ..., 10: each crosses a new tenth of the run, so each is logged.
    assert [line.split()[0] for line in progress_lines] == ["20%", "40%", "60%", "80%", "100%"]
    assert "ETA" in progress_lines[-1] and "loss" in progress_lines[-1]
    assert f"wrote {out} (48x24, 10 steps," in err


def test_main_quiet_logs_no_progress(
    tmp_path: Path,
    inputs: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STYLEBOT_WEIGHTS", "random")
    content, style, _ = inputs
    code = cli.main([str(content), str(style), "--steps", "2", "--size", "32", "-q", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 0
    assert "% step" not in err and "wrote" not in err
    assert (tmp_path / "o.png").is_file()


def test_ctrl_c_exits_130_with_one_line_and_no_output(
    tmp_path: Path,
    inputs: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during the run, simulated as KeyboardInterrupt from the first progress report."""
    monkeypatch.setenv("STYLEBOT_WEIGHTS", "random")

    def interrupt(self: cli.ProgressReporter, progress: Progress) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.ProgressReporter, "__call__", interrupt)
    content, style, _ = inputs
    out = tmp_path / "out.png"
    code = cli.main([str(content), str(style), "--steps", "50", "--size", "32", "--report-every", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERRUPTED == 130
    assert err.strip().splitlines()[-1] == "interrupted: no output written"
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weights", "/no/such/weights.h5"], "error: Weights file /no/such/weights.h5 does not exist"),
        (["--backbone", "vgg19", "--levels", "9"], "error: levels must be an integer from 1 to 4; got 9"),
        (["--report-every", "0"], "error: --report-every must be at least 1; got 0"),
    ],
)
def test_main_bad_values_exit_1(
    inputs: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    content, style, _ = inputs
    code = cli.main([str(content), str(style), *extra, "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


def test_main_missing_style_and_bad_blend_weight(
    inputs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, style, _ = inputs
    out = str(tmp_path / "o.png")
    assert cli.main([str(content), str(tmp_path / "gone.jpg"), "-o", out]) == 1
    assert capsys.readouterr().err.startswith(f"error: the style image {tmp_path / 'gone.jpg'} does not exist")
    assert cli.main([str(content), f"{style}:-1", "-o", out]) == 1
    assert capsys.readouterr().err.startswith("error: bad blend weight '-1'")
    assert cli.main([str(content), f"{style}:0", "-o", out]) == 1  # all weights 0
    assert "at least one weight above 0" in capsys.readouterr().err
    assert cli.main([str(content), str(style), "-o", str(tmp_path / "missing" / "o.png")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_main_usage_errors_keep_argparse_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert cli.main(["c.jpg", "s.jpg", "-o", "o.png", "--steps", "many"]) == 2
    assert cli.main(["c.jpg", "s.jpg", "-o", "o.png", "--optimizer", "sgd"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_main_leaves_logging_as_it_found_it(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    content, style, _ = inputs
    cli.main([str(content), str(style), "-o", str(tmp_path / "o.gif")])
    assert root.handlers == handlers and root.level == level


# --- defaults from the environment -----------------------------------------------------------------------


def test_backbone_and_weights_from_env() -> None:
    assert backbone_from_env({}) == "vgg19"
    assert weights_from_env({}) == "imagenet"
    assert backbone_from_env({"STYLEBOT_BACKBONE": " VGG16 "}) == "vgg16"
    assert weights_from_env({"STYLEBOT_WEIGHTS": "Random"}) == "random"
    assert weights_from_env({"STYLEBOT_WEIGHTS": "  "}) == "imagenet"
    assert weights_from_env({"STYLEBOT_WEIGHTS": "/Models/VGG.weights.h5"}) == "/Models/VGG.weights.h5"


def test_parser_defaults_follow_params_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLEBOT_BACKBONE", "vgg16")
    monkeypatch.setenv("STYLEBOT_WEIGHTS", "/w.h5")
    args = cli.build_parser().parse_args(["c.jpg", "s.jpg", "-o", "o.png"])
    d = StyleParams()
    assert (args.backbone, args.weights) == ("vgg16", "/w.h5")
    assert args.steps == d.steps and args.max_side == d.max_side and args.learning_rate == d.learning_rate
    assert args.content_weight == d.content_weight and args.style_weight == d.style_weight
    assert args.init == d.init and args.optimizer == d.optimizer and args.levels == d.levels
    assert args.keep_colors is False and args.preview_dir is None and args.report_every == 10
    assert args.style_layers == d.style_layers and args.content_layers == d.content_layers
    assert args.pooling == d.pooling


def test_layers_and_pooling_flags() -> None:
    argv = ["c.jpg", "s.jpg", "-o", "o.png", "--style-layers", "block1_conv1, block3_conv1", "--pooling", "avg"]
    args = cli.build_parser().parse_args([*argv, "--content-layers", "block4_conv2"])
    assert args.style_layers == ("block1_conv1", "block3_conv1")
    assert args.content_layers == ("block4_conv2",) and args.pooling == "avg"


# --- the progress display ----------------------------------------------------------------------------------


def _progress(step: int, total: int = 10, eta: float | None = 12.0) -> Progress:
    return Progress(step, total, Losses(1234.5, 1.0, 1233.5, 0.0), elapsed_s=65.0, eta_s=eta)


def test_bar_redraws_one_line_with_percent_loss_elapsed_and_eta() -> None:
    stream = io.StringIO()
    reporter = cli.ProgressReporter(stream, bar=True)
    reporter(_progress(1, eta=None))
    reporter(_progress(5))
    reporter.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    first, second = text.strip("\n").split("\r")[1:]
    assert " 10% step 1/10" in first and "ETA --:--" in first
    assert "[############------------]  50% step 5/10 loss 1.23e+03 elapsed 1:05 ETA 0:12" in second


def test_log_mode_reports_each_tenth_once(caplog: pytest.LogCaptureFixture) -> None:
    reporter = cli.ProgressReporter(io.StringIO(), bar=False)
    with caplog.at_level(logging.INFO, logger="engine.cli"):
        for step in range(1, 101):
            reporter(_progress(step, total=100))
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.cli"]
    assert [line.split()[0] for line in lines] == [f"{p}%" for p in range(10, 101, 10)]


def test_format_duration() -> None:
    assert cli.format_duration(None) == "--:--"
    assert cli.format_duration(0) == "0:00"
    assert cli.format_duration(65.4) == "1:05"
    assert cli.format_duration(3725) == "1:02:05"
