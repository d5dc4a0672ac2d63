"""Plain-text readings of computed figures, written by Jinja2 templates in prompts/ that a person can edit.

The templates only format and arrange numbers that were computed (OutcomeStatistics, Consensus); nothing here
estimates anything. This is also what the offline model answers with, so it must read well without an LLM.
jinja2 is imported on first use, and the environment is built once.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from proxima_agent.analysis.metrics import Consensus
from proxima_agent.analysis.statistics import Interval, OutcomeStatistics, PairCorrelation
from proxima_agent.errors import FileReadError
from proxima_agent.paths import resource_dir

PERFECT = 0.9995  # |<ZiZj>| that prints as 1.000
STRONG = 0.9
MAX_PAIRS = 3  # correlated pairs named in a reading; the rest are counted


def pct(value: float, digits: int = 1) -> str:
    """0.507 -> '50.7 %'."""
    return f"{100 * value:.{digits}f} %"


def ci_pct(interval: Interval | None, digits: int = 1) -> str:
    """An interval of probabilities as '47.6-53.8 %'; '' when there is none."""
    if interval is None:
        return ""
    return f"{100 * interval.low:.{digits}f}-{100 * interval.high:.{digits}f} %"


def ci(interval: Interval | None, digits: int = 3) -> str:
    """An interval of expectation values as '0.981 to 1.000'; '' when there is none."""
    if interval is None:
        return ""
    return f"{interval.low:.{digits}f} to {interval.high:.{digits}f}"


def fixed(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def sig(value: float, digits: int = 3) -> str:
    """Significant digits, for figures spanning orders of magnitude (times, distances)."""
    return f"{value:.{digits}g}"


def seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{1e3 * value:.1f} ms"
    return f"{1e6 * value:.0f} µs"


def size(value: int | None) -> str:
    if value is None:
        return "not measured"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def ratio(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


FILTERS = {"pct": pct, "ci_pct": ci_pct, "ci": ci, "fixed": fixed, "sig": sig, "seconds": seconds}
FILTERS |= {"size": size, "ratio": ratio}


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("prompts"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters.update(FILTERS)
    return environment


def render(template_name: str, **values: Any) -> str:
    """Render prompts/<template_name> (".j2" may be left off) with StrictUndefined: a missing value is an error,
    never an empty gap in the text."""
    import jinja2

    name = template_name if template_name.endswith(".j2") else template_name + ".j2"
    try:
        template = _environment().get_template(name)
    except jinja2.TemplateNotFound:
        raise FileReadError(
            f"prompt template {name} not found in {resource_dir('prompts')}",
            hint="reinstall Proxima, or restore the file in prompts/",
        ) from None
    return template.render(**values)


def _paragraph(text: str) -> str:
    """Templates put one sentence per line for easy editing; a reading is one paragraph."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def notable_correlations(stats: OutcomeStatistics) -> list[tuple[PairCorrelation, str]]:
    """Pairs of bits that move together (or oppositely) and are not merely both fixed: |<ZiZj>| >= 0.9 and
    |covariance| >= 0.5. Labelled 'perfectly' when the figure prints as 1.000, else 'strongly'."""
    found = []
    for pair in stats.correlations:
        if abs(pair.zz) >= STRONG and abs(pair.covariance) >= 0.5:
            strength = "perfectly" if abs(pair.zz) >= PERFECT else "strongly"
            found.append((pair, f"{strength} {'correlated' if pair.zz > 0 else 'anti-correlated'}"))
    return sorted(found, key=lambda item: -abs(item[0].zz))


def read_result(stats: OutcomeStatistics, **context: Any) -> str:
    """A short reading of one result. Context (all optional): backend, circuit, shown (outcomes to name, 3)."""
    notable = notable_correlations(stats)
    return _paragraph(
        render(
            "interpret_result.j2",
            stats=stats,
            shown=stats.top[: int(context.pop("shown", 3))],
            notable=notable[:MAX_PAIRS],
            more_pairs=max(0, len(notable) - MAX_PAIRS),
            **context,
        )
    )


def read_comparison(consensus: Consensus, **context: Any) -> str:
    """A short reading of a comparison: the verdict, the distances, the ranking with time and memory ratios."""
    return _paragraph(render("interpret_comparison.j2", consensus=consensus, **context))
