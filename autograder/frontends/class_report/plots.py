"""The report's plots, drawn by matplotlib (its object API: no pyplot state, no display) as PNG data URLs that the
page holds inline, so it needs no server and no network. Only names this course chose (weeks, parts) are drawn."""

from __future__ import annotations

import base64
import io

from matplotlib.figure import Figure

from autograder.frontends.class_report.summary import PartSummary, WeekSummary

_BLUE, _GREY = "#2f6db5", "#9aa5b1"


def score_histogram(week: WeekSummary) -> str:
    """The week's scores, one bar per point, with the median and quartiles marked."""
    figure = Figure(figsize=(5.2, 2.6), layout="constrained")
    axes = figure.subplots()
    top = max(week.max_score, 1)
    bins = [b - 0.5 for b in range(int(top) + 2)]
    axes.hist(week.scores, bins=bins, color=_BLUE, edgecolor="white")
    q1, median, q3 = week.quartiles
    axes.axvspan(q1, q3, color=_GREY, alpha=0.25, label=f"quartiles {q1:g}-{q3:g}")
    axes.axvline(median, color="black", linewidth=1.5, label=f"median {median:g}")
    axes.set(xlabel=f"score (of {week.max_score:g})", ylabel="students", xlim=(-0.5, top + 0.5))
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    return _data_url(figure)


def part_chart(parts: list[PartSummary]) -> str:
    """Each part's share of students with every point (bar) and its mean share of the points (dot)."""
    figure = Figure(figsize=(5.2, 0.45 * len(parts) + 0.9), layout="constrained")
    axes = figure.subplots()
    names = [part.part for part in parts][::-1]
    axes.barh(names, [part.pass_rate * 100 for part in parts][::-1], color=_BLUE, label="full points")
    means = [part.mean / part.points * 100 if part.points else 0 for part in parts][::-1]
    axes.plot(means, names, "o", color="black", markersize=4, label="mean points")
    axes.set(xlim=(0, 100), xlabel="% of students")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8, frameon=False)
    return _data_url(figure)


def _data_url(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
