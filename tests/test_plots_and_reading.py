"""PNG charts decode to 640 x 400 images; the plain-text readings carry exactly the computed figures; the analysis
modules import no heavy library until a function needs it."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import jinja2
import pytest
from matplotlib.image import imread

from proxima_agent.analysis.metrics import consensus
from proxima_agent.analysis.plots import comparison_png, histogram_png
from proxima_agent.analysis.reading import ci_pct, pct, read_comparison, read_result, render, size
from proxima_agent.analysis.statistics import Interval, outcome_statistics
from proxima_agent.backends.base import RunOptions
from proxima_agent.backends.registry import get_backend
from proxima_agent.circuits.library import build
from proxima_agent.circuits.noise import parse_noise
from proxima_agent.errors import FileReadError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(backend: str, circuit: str = "bell", *, noise: str = "", seed: int = 1):
    return get_backend(backend).run(
        build(circuit), RunOptions(shots=1000, seed=seed, noise=parse_noise(noise))
    )


@pytest.fixture(scope="module")
def bells():
    return [run(b) for b in ("aer-sv", "aer-dm", "lret")]


def _sentences(text: str) -> int:
    return len(re.findall(r"[.](?:\s|$)", text))


def _decoded_shape(png: bytes) -> tuple[int, ...]:
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png").shape


# --- plots ----------------------------------------------------------------------------------------------------


def test_histogram_png(bells):
    assert _decoded_shape(histogram_png(bells[0].counts, title="bell on aer-sv")) == (400, 640, 4)
    many = run("aer-sv", "random:6:4:2").counts
    assert len(many) > 16
    png = histogram_png(many, title="random", top=16)
    assert _decoded_shape(png) == (400, 640, 4)
    assert png != histogram_png(many, title="random", top=4)


def test_comparison_png(bells):
    noisy = run("aer-sv", noise="depolarizing:0.3")
    dists = {
        "aer-sv": bells[0].probability_dict(),
        "lret": bells[2].probability_dict(),
        "noisy": noisy.counts,
    }
    assert _decoded_shape(comparison_png(dists, title="bell")) == (400, 640, 4)
    assert _decoded_shape(comparison_png(dists, title="bell", top=1)) == (400, 640, 4)


def test_analysis_modules_import_nothing_heavy():
    modules = ["metrics", "statistics", "results_files", "plots", "reading", "export"]
    heavy = ("matplotlib", "scipy", "openpyxl", "jinja2", "qiskit", "cirq", "pandas")
    code = (
        "import sys\n"
        + "".join(f"import proxima_agent.analysis.{m}\n" for m in modules)
        + f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


# --- readings -------------------------------------------------------------------------------------------------


def test_filters():
    assert pct(0.507) == "50.7 %" and pct(1.0, 0) == "100 %"
    assert ci_pct(Interval(low=0.476, high=0.5379)) == "47.6-53.8 %" and ci_pct(None) == ""
    assert size(4096) == "4.0 KiB" and size(None) == "not measured" and size(12) == "12 B"


def test_reading_of_a_sampled_result(bells):
    r = bells[0]
    stats = outcome_statistics(r.counts, None, r.shots, r.num_clbits, False)
    text = read_result(stats, circuit="bell", backend="aer-sv")
    assert text.startswith("Of 1000 shots of bell on aer-sv, ")
    for figure in stats.top:
        assert f"{figure.outcome} came up {figure.count} times ({pct(figure.probability)}" in text
        assert f"95 % CI {ci_pct(figure.interval)}" in text
    assert f"entropy is {stats.entropy_bits:.2f} bits of a possible 2" in text
    assert "Bits 0 and 1 are perfectly correlated (<Z0Z1> = 1.000, 95 % CI 0.992 to 1.000)" in text
    assert "2 distinct outcomes were observed of 4 possible" in text
    assert 3 <= _sentences(text) <= 8
    assert "\n" not in text


def test_reading_of_an_exact_result(bells):
    r = bells[2]
    stats = outcome_statistics(r.counts, r.probability_dict(), r.shots, r.num_clbits, True)
    text = read_result(stats)
    assert text.startswith("The exact distribution gives 00 probability 50.0 %")
    assert "CI" not in text  # no sampling error to report
    assert 3 <= _sentences(text) <= 8


def test_reading_of_a_noisy_result_names_the_rest_and_the_parity():
    r = run("aer-sv", "ghz:3", noise="depolarizing:0.2")
    stats = outcome_statistics(r.counts, None, r.shots, 3, False)
    text = read_result(stats)
    assert f"The other {stats.support - 3} outcomes together hold" in text
    assert f"The total parity <Z...Z> over all 3 bits is {stats.parity:.3f}" in text
    assert 3 <= _sentences(text) <= 8


def test_reading_of_an_agreeing_comparison(bells):
    c = consensus(bells)
    text = read_comparison(c, circuit="bell")
    assert text.startswith("Comparing 3 runs of bell: all 3 backends agree within sampling error")
    for p in c.pairs:
        assert f"{p.a} vs {p.b}: TVD {p.tvd:.3g} against a bound of {p.threshold:.3g}" in text
    ranking = text[text.index("Ranking") :]
    positions = [ranking.index(f"{s.rank}. {s.label} (") for s in c.ranking]
    assert positions == sorted(positions)
    assert "Peak memory increase" in text
    assert 3 <= _sentences(text) <= 8


def test_reading_of_a_disagreement(bells):
    noisy = run("aer-sv", noise="depolarizing:0.3", seed=5)
    c = consensus([*bells, noisy])
    text = read_comparison(c)
    assert "aer-sv#2 disagrees with the others" in text
    assert "Across the 6 pairs the TVD runs from" in text and "3 pairs agree" in text
    assert "4. aer-sv#2 (" in text and "disagrees with most" in text


def test_render_is_strict():
    with pytest.raises(jinja2.UndefinedError):
        render("interpret_result.j2")
    with pytest.raises(FileReadError, match="not found"):
        render("no_such_template")
