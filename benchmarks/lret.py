"""Benchmark `lret` against `aer-dm`, `cirq-dm` and `aer-sv` trajectories on the same circuits, in one run.

Prints, per case: qubits, depth, noise, noisy locations, each backend's time, the ratio to aer-dm, lret's
predicted / peak / final rank, discarded weight and its bound, and the fidelity / trace distance to the exact
result where one exists; then lret's effective GFLOP/s next to this machine's numpy complex GEMM rate, a breakdown
of lret's time, and the straightforward implementation (`strategy=naive`) at the same budget.

    python benchmarks/lret.py                  # the full set (35-75 minutes on 2 cores)
    python benchmarks/lret.py --quick          # a few cases (a few minutes)
    python benchmarks/lret.py --only '^ghz:1[02]$'   # the cases whose circuit matches
    python benchmarks/lret.py --markdown docs/performance.md   # also write the tables there

Every run happens in its own subprocess with a time limit, so a slow or huge case cannot stall the benchmark;
a backend that cannot run a case (memory) is shown with the memory it would need.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Case:
    group: str
    circuit: str
    noise: str
    note: str
    options: tuple[tuple[str, Any], ...] = ()


def cases(quick: bool) -> list[Case]:
    a = []
    for n in (10, 12, 14):
        a += [
            Case(
                "a",
                f"ghz:{n}",
                "amplitude_damping:0.001;phase_damping:0.001",
                "GHZ, weak damping after every gate",
            ),
            Case("a", f"qft:{n}", "phase_damping:0.0005@cp", "QFT, weak dephasing after each cp"),
            Case("a", f"qaoa:{n}:2", "phase_damping:0.001@rzz", "QAOA p=2, dephasing after each rzz"),
            Case("a", f"random:{n}:20", "depolarizing:0.001/0", "random depth 20, noise on qubit 0 only"),
        ]
    b = [
        Case(
            "b",
            f"ghz:{n}",
            "amplitude_damping:0.001;phase_damping:0.001",
            "GHZ, weak damping after every gate",
        )
        for n in (16, 18, 20, 22)
    ] + [
        Case("b", f"qft:{n}", "phase_damping:0.0005@cp", "QFT, weak dephasing after each cp")
        for n in (16, 18, 20)
    ]
    b += [Case("b", "qaoa:16:2", "phase_damping:0.001@rzz", "QAOA p=2, dephasing after each rzz")]
    b += [
        Case("b", f"random:{n}:20", "depolarizing:0.001/0", "random depth 20, noise on qubit 0 only")
        for n in (16, 18, 20, 22)
    ]
    c = [
        Case("c", f"random:{n}:20", f"depolarizing:{p}", "random depth 20, depolarizing after every gate")
        for n in (8, 10)
        for p in ("0.001", "0.01")
    ]
    if quick:
        return [a[0], a[4], a[3], b[0], c[0], c[2]]
    return a + b + c


# --- the worker: one backend on one case, in its own process ---------------------------------------------------


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise

    circuit = build(spec["circuit"])
    options = RunOptions(
        shots=spec["shots"], seed=7, noise=parse_noise(spec["noise"]), backend_options=spec.get("options", {})
    )
    backend = get_backend(spec["backend"])
    start = time.perf_counter()
    result = backend.run(circuit, options)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "seconds": seconds,
        "peak_increase_bytes": result.memory.peak_increase_bytes,
        # the process's peak resident memory, libraries included (Linux reports KiB)
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if result.probabilities is not None:
        np.save(spec["probabilities_path"], result.probabilities)
    else:
        counts = np.zeros(2**circuit.num_clbits)
        for key, value in result.counts.items():
            counts[int(key, 2)] = value / result.shots
        np.save(spec["probabilities_path"], counts)
    if "lret" in result.metadata:
        out["lret"] = result.metadata["lret"]
    return out


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the parent -------------------------------------------------------------------------------------------------


def gemm_rate() -> float:
    a = np.random.default_rng(0).normal(size=(1024, 1024)) * (1 + 1j)
    a @ a
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 8 * 1024**3 / best / 1e9


def fidelity(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(np.sqrt(np.clip(p, 0, None) * np.clip(q, 0, None))) ** 2)


def fmt_s(s: float | None) -> str:
    return "-" if s is None else (f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="run only the cases whose circuit matches this regular expression")
    parser.add_argument("--markdown", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per backend run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.analysis import describe
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise
    from proxima_agent.selection.estimate import estimate, format_bytes
    from proxima_agent.selection.select import select_backend

    rate = gemm_rate()
    print(f"numpy complex GEMM on this machine: {rate:.1f} GFLOP/s", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="lret-bench-"))
    rows: list[dict[str, Any]] = []
    started = time.time()
    selected = [c for c in cases(args.quick) if args.only is None or re.search(args.only, c.circuit)]
    for index, case in enumerate(selected):
        circuit = build(case.circuit)
        noise = parse_noise(case.noise)
        options = RunOptions(shots=1000, noise=noise)
        est = {r.backend: r for r in estimate(circuit, options).backends}
        summary = describe(circuit)
        row: dict[str, Any] = {
            "case": case,
            "n": circuit.num_qubits,
            "depth": summary.depth,
            "locations": noise.noisy_locations(circuit),
            "predicted": est["lret"].note,
            "selected": select_backend(circuit, options).backend,
            "times": {},
            "errors": {},
        }
        runs = {
            "lret": {},
            "aer-dm": {},
            "cirq-dm": {},
            "aer-sv": {},
            "lret-naive": {"strategy": "naive"},
            "lret-single": {"precision": "single"},
        }
        for name, extra in runs.items():
            backend_id = "lret" if name.startswith("lret") else name
            if backend_id != "lret" and not est[backend_id].feasible:
                row["errors"][name] = f"needs {format_bytes(est[backend_id].memory_bytes)}"
                continue
            if name == "cirq-dm" and circuit.num_qubits > 10:
                row["errors"][name] = "skipped above 10 qubits (minutes per run)"
                continue
            if name in ("lret-naive", "lret-single") and (case.group == "b" or circuit.num_qubits > 12):
                row["errors"][name] = "skipped"
                continue
            spec = {
                "backend": backend_id,
                "circuit": case.circuit,
                "noise": case.noise,
                "shots": 1000,
                "options": extra,
                "probabilities_path": str(tmp / f"{index}-{name}.npy"),
            }
            out = run_worker(spec, args.timeout)
            if "error" in out:
                row["errors"][name] = out["error"]
                print(f"  {case.circuit} {name}: {out['error']}", flush=True)
                continue
            row["times"][name] = out["seconds"]
            if name == "lret":
                row["lret"] = out["lret"]
                row["lret_rss"] = out["max_rss_bytes"]
            print(f"  {case.circuit} [{case.noise}] {name}: {fmt_s(out['seconds'])}", flush=True)
        exact = tmp / f"{index}-aer-dm.npy"
        mine = tmp / f"{index}-lret.npy"
        if exact.exists() and mine.exists():
            row["fidelity"] = fidelity(np.load(exact), np.load(mine))
            row["tvd"] = 0.5 * float(np.abs(np.load(exact) - np.load(mine)).sum())
        single = tmp / f"{index}-lret-single.npy"
        if single.exists() and mine.exists():
            row["single_tvd"] = 0.5 * float(np.abs(np.load(single) - np.load(mine)).sum())
        rows.append(row)
    del RunOptions, get_backend
    text = render(rows, rate, time.time() - started)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")


def render(rows: list[dict[str, Any]], rate: float, seconds: float) -> str:
    import numpy
    import qiskit_aer

    from proxima_agent.selection.estimate import format_bytes

    out = [
        "# Performance",
        "",
        f"Measured by `python benchmarks/lret.py` on {dt.date.today()} ({seconds / 60:.0f} minutes): "
        f"{os.cpu_count()} cores, {platform.machine()}, numpy {numpy.__version__}, qiskit-aer "
        f"{qiskit_aer.__version__}. Times are wall-clock seconds of one run (1000 shots) in a fresh process, "
        "library import excluded. Ratio = aer-dm time / lret time (above 1: lret is faster). Fidelity and TVD "
        "compare lret's outcome distribution with aer-dm's exact one. The bound is lret's reported bound on the "
        "trace distance to the exact state (= weight discarded). Rank pred is lret's estimate before the run "
        "(lret/estimate.py); lret RSS is the peak resident memory of lret's process, libraries included; "
        "selector is the backend `select_backend` picks for the case.",
        "",
        f"numpy complex GEMM on this machine: **{rate:.1f} GFLOP/s**.",
        "",
    ]
    titles = {
        "a": "(a) Sparse noise and structured circuits, 10-14 qubits",
        "b": "(b) The same beyond the density matrix, 16-22 qubits",
        "c": "(c) Noise after every gate: where lret is the wrong tool",
    }
    for group in ("a", "b", "c"):
        group_rows = [r for r in rows if r["case"].group == group]
        if not group_rows:
            continue
        out += [f"## {titles[group]}", ""]
        out.append(
            "| circuit | n | depth | noise | noisy loc. | lret | aer-dm | cirq-dm | aer-sv traj. | ratio | "
            "rank pred / peak / final | lret RSS | discarded (bound) | fidelity | TVD | selector |"
        )
        out.append("|" + "---|" * 16)
        for r in group_rows:
            t = r["times"]
            ratio = f"{t['aer-dm'] / t['lret']:.1f}x" if "aer-dm" in t and "lret" in t else "-"
            lret = r.get("lret", {})
            predicted = r["predicted"].split()[3] if r["predicted"] else "?"
            ranks = (
                f"{predicted} / {lret.get('peak_rank', '-')} / {lret.get('final_rank', '-')}" if lret else "-"
            )

            def cell(name: str, times: dict[str, float] = t, errors: dict[str, str] = r["errors"]) -> str:
                return fmt_s(times[name]) if name in times else errors.get(name, "-")

            discarded = f"{lret['discarded_weight']:.1e}" if lret else "-"
            rss = format_bytes(r["lret_rss"]) if "lret_rss" in r else "-"
            fid = f"{r['fidelity']:.6f}" if "fidelity" in r else "-"
            tvd = f"{r['tvd']:.1e}" if "tvd" in r else "-"
            out.append(
                f"| {r['case'].circuit} | {r['n']} | {r['depth']} | `{r['case'].noise}` | {r['locations']} | "
                f"{cell('lret')} | {cell('aer-dm')} | {cell('cirq-dm')} | {cell('aer-sv')} | {ratio} | {ranks} | "
                f"{rss} | {discarded} | {fid} | {tvd} | {r['selected']} |"
            )
        out.append("")
    # naive baseline, breakdown and GFLOP/s
    out += ["## lret against the straightforward implementation, and in single precision", ""]
    out.append(
        "Naive: materialise every Kraus branch and eigendecompose the full Gram matrix after every channel, "
        "at the same threshold. Single: `-O precision=single` (complex64); its TVD is to lret's double-precision "
        "distribution."
    )
    out += [
        "",
        "| circuit | noise | lret | naive | speed-up | single | single / double time | single TVD |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["times"]
        if "lret" in t and "lret-naive" in t:
            single = (
                f"{fmt_s(t['lret-single'])} | {t['lret-single'] / t['lret']:.2f} | {r['single_tvd']:.1e}"
                if "lret-single" in t and "single_tvd" in r
                else "- | - | -"
            )
            out.append(
                f"| {r['case'].circuit} | `{r['case'].noise}` | {fmt_s(t['lret'])} | {fmt_s(t['lret-naive'])} | "
                f"{t['lret-naive'] / t['lret']:.1f}x | {single} |"
            )
    out += ["", "## Where lret's time goes", ""]
    out.append(
        "| circuit | gates | channels (GEMM) | Gram | eigensolver | sampling | Gram+GEMM GFLOP/s | eig GFLOP/s |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lret = r.get("lret")
        if not lret:
            continue
        b = lret["time_breakdown_s"]
        f = lret["flops"]
        dense = (f["gram_flops"] + f["gemm_flops"]) / max(b["gram"] + b["channels"], 1e-9) / 1e9
        eig = f["eig_flops"] / max(b["eigensolver"], 1e-9) / 1e9
        out.append(
            f"| {r['case'].circuit} `{r['case'].noise}` | {fmt_s(b['gates'])} | {fmt_s(b['channels'])} | "
            f"{fmt_s(b['gram'])} | {fmt_s(b['eigensolver'])} | {fmt_s(b['sampling'])} | {dense:.1f} | {eig:.1f} |"
        )
    out.append("")
    out.append(
        f"For reference, numpy's complex GEMM reaches {rate:.1f} GFLOP/s here (1024 x 1024). Eigensolver "
        "flops are counted nominally as 36 N^3 per Hermitian N x N eigendecomposition."
    )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
