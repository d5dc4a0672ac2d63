"""PNG charts for `interpret` and `compare`: a histogram of one result, grouped bars for several.

matplotlib is imported inside the functions, and figures are drawn on `matplotlib.figure.Figure` with the Agg
canvas directly: no pyplot, so no global figure registry or backend switch, and safe to call from threads.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

WIDTH_PX, HEIGHT_PX, DPI = 640, 400, 100
OTHER = "other"


def _top_keys(dist: Mapping[str, float], top: int) -> list[str]:
    return sorted(dist, key=lambda k: (-dist[k], k))[: max(1, top)]


def _normalised(dist: Mapping[str, float | int]) -> dict[str, float]:
    total = float(sum(dist.values()))
    return {k: float(v) / total for k, v in dist.items()} if total > 0 else {k: 0.0 for k in dist}


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox_inches="tight": the size stays 640 x 400
    return buffer.getvalue()


def _label_axes(axes, labels: list[str], ylabel: str, title: str) -> None:
    longest = max((len(x) for x in labels), default=0)
    rotation = 0 if longest * len(labels) <= 60 else 90
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(labels, rotation=rotation, fontsize=8 if longest > 8 else 9, family="monospace")
    axes.set_xlabel("outcome (qubit 0 rightmost)")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=11)
    axes.grid(axis="y", alpha=0.3)


def histogram_png(dist: Mapping[str, float | int], *, title: str, top: int = 16) -> bytes:
    """Bars for the `top` likeliest outcomes, and an "other" bar holding the rest when there is a rest. Integer
    values are drawn as counts, anything else as probabilities."""
    counts = all(isinstance(v, int) and not isinstance(v, bool) for v in dist.values())
    keys = _top_keys(dist, top)
    labels = list(keys)
    heights = [float(dist[k]) for k in keys]
    rest = [k for k in dist if k not in set(keys)]
    if rest:
        labels.append(f"{OTHER} ({len(rest)})")
        heights.append(float(sum(dist[k] for k in rest)))
    figure = _figure()
    axes = figure.add_subplot()
    colours = ["#4878a8"] * len(keys) + ["#b0b0b0"] * bool(rest)
    axes.bar(range(len(labels)), heights, color=colours)
    _label_axes(axes, labels, "count" if counts else "probability", title)
    figure.tight_layout()
    return _png(figure)


def comparison_png(dists: Mapping[str, Mapping[str, float | int]], *, title: str, top: int = 16) -> bytes:
    """Grouped bars, one colour per backend, over the union of the backends' likeliest outcomes (at most `top`
    of them, by the largest probability any backend gives; the rest is one "other" group)."""
    normalised = {name: _normalised(d) for name, d in dists.items()}
    union: set[str] = set()
    for d in normalised.values():
        union.update(_top_keys(d, top))
    peak = {k: max(d.get(k, 0.0) for d in normalised.values()) for k in union}
    keys = sorted(union, key=lambda k: (-peak[k], k))[: max(1, top)]
    chosen = set(keys)
    has_rest = any(k not in chosen for d in normalised.values() for k in d)
    labels = keys + ([OTHER] if has_rest else [])
    figure = _figure()
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(normalised))
    for index, (name, d) in enumerate(normalised.items()):
        heights = [d.get(k, 0.0) for k in keys]
        if has_rest:
            heights.append(sum(v for k, v in d.items() if k not in chosen))
        offset = (index - (len(normalised) - 1) / 2) * width
        axes.bar([x + offset for x in range(len(labels))], heights, width=width, label=name)
    _label_axes(axes, labels, "probability", title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return _png(figure)
