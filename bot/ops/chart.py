"""The /stats chart: jobs per hour as bars, the median wait as a line; a PNG drawn without a display."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure

from bot.store.storage import UsageStats


def usage_chart(stats: UsageStats) -> bytes:
    """PNG bytes of jobs per hour and median wait per hour (UTC); blocking, so call it in a thread."""
    # Figure and the Agg canvas directly, not pyplot: pyplot keeps global state that threads must not share.
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    jobs_axis = figure.add_subplot()
    hours = [float(date2num(datetime.fromtimestamp(start, timezone.utc))) for start, _, _ in stats.hourly]
    width = 1 / 24 * 0.8  # days, as matplotlib's date axis counts
    jobs_axis.bar(hours, [n for _, n, _ in stats.hourly], width=width, align="edge", color="#4c72b0", label="jobs")
    jobs_axis.set_ylabel("jobs per hour")
    wait_axis = jobs_axis.twinx()
    waits = [(hour, wait) for hour, (_, _, wait) in zip(hours, stats.hourly, strict=True) if wait is not None]
    if waits:
        wait_axis.plot([h for h, _ in waits], [w for _, w in waits], "o-", color="#dd8452", label="median wait")
    wait_axis.set_ylabel("median wait, s")
    wait_axis.set_ylim(bottom=0)
    jobs_axis.xaxis.set_major_formatter(DateFormatter("%d %b %H:%M"))
    jobs_axis.set_title("Jobs per hour and median wait (UTC)")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
