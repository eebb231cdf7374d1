"""The /stats chart: jobs per hour as bars, the median wait as a line; a PNG drawn without a display."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure

from bot.store.storage import UsageStats

# DejaVu Sans, the font matplotlib bundles, has Cyrillic and Persian glyphs, so every catalogue's labels draw
# without missing-glyph warnings. From 3.11 matplotlib lays text out with libraqm: Persian letters join and run
# right to left. Earlier versions draw them unjoined and left to right, which no reader can read; the Telegram
# layer asks this before it passes right-to-left labels.
LAYS_OUT_RIGHT_TO_LEFT = tuple(matplotlib.__version_info__[:2]) >= (3, 11)


@dataclass(frozen=True)
class ChartLabels:
    """The chart's words; the Telegram layer passes them in the reader's language."""

    title: str = "Jobs per hour and median wait (UTC)"
    jobs_axis: str = "jobs per hour"
    wait_axis: str = "median wait, s"
    jobs: str = "jobs"
    wait: str = "median wait"


def usage_chart(stats: UsageStats, labels: ChartLabels | None = None) -> bytes:
    """PNG bytes of jobs per hour and median wait per hour (UTC); blocking, so call it in a thread."""
    labels = labels or ChartLabels()
    # Figure and the Agg canvas directly, not pyplot: pyplot keeps global state that threads must not share.
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    jobs_axis = figure.add_subplot()
    hours = [float(date2num(datetime.fromtimestamp(start, timezone.utc))) for start, _, _ in stats.hourly]
    width = 1 / 24 * 0.8  # days, as matplotlib's date axis counts
    counts = [n for _, n, _ in stats.hourly]
    jobs_axis.bar(hours, counts, width=width, align="edge", color="#4c72b0", label=labels.jobs)
    jobs_axis.set_ylabel(labels.jobs_axis)
    wait_axis = jobs_axis.twinx()
    waits = [(hour, wait) for hour, (_, _, wait) in zip(hours, stats.hourly, strict=True) if wait is not None]
    if waits:
        wait_axis.plot([h for h, _ in waits], [w for _, w in waits], "o-", color="#dd8452", label=labels.wait)
    wait_axis.set_ylabel(labels.wait_axis)
    # Headroom above the tallest bar and point for the legend: one row of both axes' entries, on the upper axis so
    # that the line does not hide it.
    jobs_axis.margins(y=0.2)
    wait_axis.margins(y=0.2)
    wait_axis.set_ylim(bottom=0)
    jobs_handles, jobs_names = jobs_axis.get_legend_handles_labels()
    wait_handles, wait_names = wait_axis.get_legend_handles_labels()
    wait_axis.legend(jobs_handles + wait_handles, jobs_names + wait_names, loc="upper left", ncols=2, fontsize="small")
    # Month and day as numbers: strftime's month names would be English whatever the reader's language.
    jobs_axis.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))
    jobs_axis.set_title(labels.title)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
