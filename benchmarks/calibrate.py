"""Calibrate the backends' memory and time models on this machine.

For each backend (`cirq-sv`, `cirq-dm`, `aer-sv`, `aer-dm`) this measures, each in fresh subprocesses:

1. `overhead_bytes`: RSS of a fresh interpreter that imported proxima_agent and the backend's library and ran a
   Bell circuit, minus the RSS of a bare interpreter.
2. `state_copies`: peak RSS increase of a run whose state dominates, divided by the state's bytes (16 * 2^n or
   16 * 4^n); the max over sizes, rounded up to a multiple of 0.5. The peak is the kernel's high-water mark
   (VmHWM), not only the result's 5 ms RSS sampler: a library that holds the GIL while it runs (Aer does)
   starves the sampler thread.
3. The time model (proxima_agent.backends.base.TimeModel): startup_s, per_op_s, per_entry_s, per_shot_s fitted by
   non-negative least squares on relative error, on warm runs in one process per backend, over a grid of qubit
   counts, depths and shots. Exact mode: noiseless for state-vector backends, depolarizing noise for density-matrix
   backends. State-vector backends are also fitted in trajectory mode (noisy, few shots).

    python benchmarks/calibrate.py            # full grid, about 6-8 minutes on 2 cores
    python benchmarks/calibrate.py --quick    # smaller grid, about 2 minutes

Prints progress lines and the final tables, and writes the tables as Markdown to docs/calibration.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOISE = "depolarizing:0.01"
MiB = 2**20
BACKENDS = ("cirq-sv", "cirq-dm", "aer-sv", "aer-dm")
DENSITY = {"cirq-sv": False, "cirq-dm": True, "aer-sv": False, "aer-dm": True}
LIBRARY_MODULE = {"cirq-sv": "cirq", "cirq-dm": "cirq", "aer-sv": "qiskit_aer", "aer-dm": "qiskit_aer"}


# ----------------------------------------------------------------------------------------------------------------
# Helpers shared by the parent and the workers
# ----------------------------------------------------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM (bytes) and Threads of this process, from /proc (no imports, so a bare interpreter can use it)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out[key] = int(value)
    return out


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def run_queue_wait_s() -> float:
    """Seconds this process's threads have spent runnable but waiting for a CPU (from /proc/self/task/*/schedstat).
    Its growth during a run is the direct measure of being slowed down by other processes."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def connected_layer(n: int, seed: int) -> int:
    """The layer of `random:n:*:seed` after which its two-qubit gates connect all qubits (Cirq simulates
    unentangled groups of qubits separately, so a state only reaches its full size once they are connected)."""
    from proxima_agent.circuits.library import build

    depth = 12
    circuit = build(f"random:{n}:{depth}:{seed}")
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    components, per_layer = n, n + n // 2
    for index, operation in enumerate(circuit.gates):
        if len(operation.qubits) == 2:
            a, b = find(operation.qubits[0]), find(operation.qubits[1])
            if a != b:
                parent[a] = b
                components -= 1
        if components == 1:
            return index // per_layer + 1
    return depth + 1


def entangling_spec(n: int, extra_layers: int) -> str:
    """A random circuit on n qubits whose qubits are all connected early, plus `extra_layers` layers."""
    if n < 2:
        return f"random:{n}:{1 + extra_layers}:1"
    layer, seed = min((connected_layer(n, s), s) for s in range(1, 9))
    return f"random:{n}:{layer + extra_layers}:{seed}"


# ----------------------------------------------------------------------------------------------------------------
# Workers (run as `calibrate.py --worker KIND JSON` in a fresh interpreter)
# ----------------------------------------------------------------------------------------------------------------


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _warm_backend(backend_id: str) -> Any:
    import importlib

    import proxima_agent  # noqa: F401
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build

    importlib.import_module(LIBRARY_MODULE[backend_id])
    backend = get_backend(backend_id)
    backend.run(build("bell"), RunOptions(shots=100, seed=1))
    return backend


def worker_bare(_: dict[str, Any]) -> None:
    emit(proc_status())


def worker_memory(args: dict[str, Any]) -> None:
    """Import, run bell, report RSS; then (optionally) one big run and its peak increase."""
    import gc

    backend = _warm_backend(args["backend"])
    gc.collect()
    before = proc_status()
    record: dict[str, Any] = {"rss_after_bell": before["VmRSS"], "hwm_after_bell": before["VmHWM"]}
    spec = args.get("spec")
    if spec:
        from proxima_agent.backends.base import RunOptions
        from proxima_agent.circuits.library import build
        from proxima_agent.circuits.noise import parse_noise

        circuit = build(spec)
        noise = parse_noise(NOISE if args["noisy"] else None)
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = backend.run(circuit, RunOptions(shots=args.get("shots", 1000), seed=1, noise=noise))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        after = proc_status()
        record.update(
            spec=spec,
            noisy=args["noisy"],
            num_qubits=circuit.num_qubits,
            state_bytes=backend.state_bytes(circuit.num_qubits),
            rss_before=before["VmRSS"],
            hwm_before=before["VmHWM"],
            hwm_after=after["VmHWM"],
            hwm_increase=after["VmHWM"] - before["VmRSS"],
            hwm_raised=after["VmHWM"] > before["VmHWM"],
            sampled_increase=result.memory.peak_increase_bytes if result.memory else 0,
            wall_s=wall,
            cpu_s=cpu,
            threads_after=after["Threads"],
            method=result.method,
        )
    emit(record)


def ops_of(circuit: Any, noise: Any) -> int:
    return len(circuit.gates) + sum(len(noise.after(o)) for o in circuit.operations)


def wait_for_quiet(max_wait_s: float, threshold: float = 0.15, window_s: float = 0.5) -> float:
    """Sleep until other processes use under `threshold` cores over a `window_s` window (or `max_wait_s` passed);
    return the seconds waited."""
    start = time.perf_counter()
    while True:
        busy0, own0 = busy_cpu_seconds(), time.process_time()
        time.sleep(window_s)
        others = (busy_cpu_seconds() - busy0 - (time.process_time() - own0)) / window_s
        waited = time.perf_counter() - start
        if others < threshold or waited >= max_wait_s:
            return waited


def worker_time(args: dict[str, Any]) -> None:
    """Warm runs over a grid of points; one JSON line per point. A point slower than `max_run_s` makes every later
    point of the same mode that is at least as large (qubits, depth and shots) be skipped.

    The machine may be shared: a repetition whose threads waited for a CPU (run queue, /proc schedstat) for more
    than 5 % of its time is not counted; the worker then waits (from a budget of `wait_budget_s` seconds in all)
    for other processes to go quiet and repeats it. A point with no clean repetition is marked `contended`."""
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise

    backend = _warm_backend(args["backend"])
    density = DENSITY[args["backend"]]
    max_run_s = args["max_run_s"]
    wait_budget = float(args.get("wait_budget_s", 0.0))
    warmed: set[str] = set()
    too_slow: list[tuple[str, int, int, int]] = []
    for point in args["points"]:
        mode, n, depth, shots = point["mode"], point["n"], point["depth"], point["shots"]
        if any(m == mode and n >= sn and depth >= sd and shots >= ss for m, sn, sd, ss in too_slow):
            emit({**point, "skipped": True})
            continue
        noise = parse_noise(NOISE if (density or mode == "trajectories") else None)
        circuit = build(point["spec"])
        options = RunOptions(shots=shots, seed=1, noise=noise)
        if mode not in warmed:  # one warm-up run per mode, on a small circuit of the mode
            backend.run(build("random:4:2:1"), options)
            warmed.add(mode)
        clean: list[
            tuple[float, float]
        ] = []  # (seconds, cpu/wall) of repetitions not slowed by other processes
        dirty: list[tuple[float, float, float]] = []  # (seconds, cpu/wall, fraction of the run spent waiting)
        waited = 0.0
        result = None
        for _attempt in range(8):
            if (
                dirty and wait_budget > 0
            ):  # the last repetition was starved: wait for other processes to calm down
                w = wait_for_quiet(min(wait_budget, 30.0))
                wait_budget -= w
                waited += w
            queue0, cpu0 = run_queue_wait_s(), time.process_time()
            result = backend.run(circuit, options)
            elapsed = result.timing.total_s
            starved = run_queue_wait_s() - queue0  # summed over this process's threads
            ratio = (time.process_time() - cpu0) / max(elapsed, 1e-9)
            if starved < 0.05 * elapsed + 0.002:
                clean.append((elapsed, ratio))
            else:
                dirty.append((elapsed, ratio, starved / max(elapsed, 1e-9)))
            # repeat points under 5 s (timer noise, first touch of fresh memory); the minimum is the figure kept
            times = [t for t, _ in clean]
            if len(times) >= 3 or (len(times) >= 2 and sum(times) > 1.5) or (times and max(times) > 5.0):
                break
            if not clean and len(dirty) >= 3 and wait_budget <= 0:
                break
        best = min(clean) if clean else min((t, r) for t, r, _ in dirty)
        if best[0] > max_run_s:
            too_slow.append((mode, n, depth, shots))
        assert result is not None
        emit(
            {
                **point,
                "ops": ops_of(circuit, noise),
                "seconds": best[0],
                "cpu_ratio": best[1],
                "simulation_s": result.timing.simulation_s,
                "repeats": len(clean) + len(dirty),
                "contended": not clean,
                "starved": min((o for _, _, o in dirty), default=0.0),
                "waited_s": waited,
                "method": result.method,
                "threads": proc_status()["Threads"],
                "metadata": {
                    k: v
                    for k, v in result.metadata.items()
                    if k in ("parallel_state_update", "parallel_shots", "fusion", "simulator")
                },
            }
        )


WORKERS = {"bare": worker_bare, "memory": worker_memory, "time": worker_time}


# ----------------------------------------------------------------------------------------------------------------
# Parent: plan, launch, fit, report
# ----------------------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_worker(kind: str, args: dict[str, Any], timeout: float, on_line: Any = None) -> list[dict[str, Any]]:
    """Start a fresh interpreter running one worker; collect its JSON lines. Killed (by its pid) after `timeout`."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=env,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    stderr_chunks: list[str] = []
    drain = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    drain.start()
    records: list[dict[str, Any]] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            line = line.strip()
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            records.append(record)
            if on_line:
                on_line(record)
        proc.wait()
    finally:
        timer.cancel()
        drain.join(timeout=5)
    if timed_out.is_set():
        log(
            f"  worker {kind} {args.get('backend', '')} timed out after {timeout:.0f} s; kept {len(records)} records"
        )
    elif proc.returncode != 0:
        tail = "".join(stderr_chunks).strip().splitlines()[-5:]
        log(f"  worker {kind} {args.get('backend', '')} failed (exit {proc.returncode}): " + " | ".join(tail))
    return records


@dataclass
class Plan:
    memory: dict[str, list[tuple[str, bool]]]  # backend -> [(spec, noisy)]
    time: dict[str, list[dict[str, Any]]]  # backend -> grid points
    max_run_s: float
    worker_timeout_s: float
    name: str = "full"


def _points(
    mode: str, sizes: list[int], depths: list[int], shots_cycle: list[int], extra: int = 0
) -> list[dict]:
    points = []
    i = 0
    for n in sizes:
        layer_spec = entangling_spec(n, 0)
        seed = int(layer_spec.split(":")[3])
        for depth in depths:
            shots = shots_cycle[i % len(shots_cycle)]
            i += 1
            points.append(
                {"mode": mode, "n": n, "depth": depth, "shots": shots, "spec": f"random:{n}:{depth}:{seed}"}
            )
    return points


def make_plan(quick: bool) -> Plan:
    sv_mem = [20, 22] if quick else [20, 22, 24]
    memory = {
        # state vectors: noiseless, a layer past full connectivity
        "cirq-sv": [(entangling_spec(n, 1), False) for n in sv_mem],
        "aer-sv": [(entangling_spec(n, 1), False) for n in sv_mem],
        # density matrices: noisy where it stays under ~40 s (Kraus channels need buffers of their own); cirq-dm at
        # 12 qubits with noise takes minutes, so it runs noiseless there
        "cirq-dm": [(entangling_spec(10, 0), True), (entangling_spec(11, 0), True)]
        + ([] if quick else [(entangling_spec(12, 1), False)]),
        "aer-dm": [(entangling_spec(n, 0), True) for n in ([10, 11] if quick else [10, 11, 12])],
    }
    if quick:
        shots = [100, 10000]
        time_grid = {
            "cirq-sv": _points("exact", [12, 18, 21], [4, 12], shots)
            + _points("trajectories", [4, 10, 14], [2, 6], [20, 50]),
            "aer-sv": _points("exact", [12, 18, 22], [4, 12], shots)
            + _points("trajectories", [4, 10, 16], [2, 6], [20, 100]),
            "cirq-dm": _points("exact", [4, 7, 9], [3, 8], shots),
            "aer-dm": _points("exact", [4, 7, 10], [3, 8], shots),
        }
        return Plan(memory, time_grid, max_run_s=8.0, worker_timeout_s=150.0, name="quick")
    shots = [100, 1000, 10000]
    time_grid = {
        "cirq-sv": _points("exact", [6, 10, 14, 18, 20, 22], [4, 8, 16], shots)
        + _points("trajectories", [4, 8, 12, 15], [2, 5, 10], [20, 50, 100])
        + _points("trajectories", [18], [2, 4], [20]),
        "aer-sv": _points("exact", [6, 10, 14, 18, 20, 22, 24], [4, 8, 16], shots)
        + _points("trajectories", [4, 8, 12, 16], [2, 5, 10], [20, 50, 100])
        + _points("trajectories", [19], [2, 4], [20, 50]),
        "cirq-dm": _points("exact", [4, 6, 8, 9], [3, 6, 12], shots) + _points("exact", [10], [2, 4], shots),
        "aer-dm": _points("exact", [4, 6, 8, 10], [3, 6, 12], shots) + _points("exact", [11], [3, 6], shots),
    }
    return Plan(memory, time_grid, max_run_s=20.0, worker_timeout_s=300.0)


@dataclass
class Fit:
    backend: str
    mode: str
    startup_s: float
    per_op_s: float
    per_entry_s: float
    per_shot_s: float
    points: int
    excluded: int
    rel_err_max: float
    rel_err_median: float
    worst: str
    cpu_ratio: float
    threads: int
    details: list[dict[str, Any]] = field(default_factory=list)

    def model_args(self) -> str:
        return (
            f"startup_s={self.startup_s:.3g}, per_op_s={self.per_op_s:.3g}, "
            f"per_entry_s={self.per_entry_s:.3g}, per_shot_s={self.per_shot_s:.3g}"
        )


def fit_time(backend: str, mode: str, records: list[dict[str, Any]]) -> Fit | None:
    """Non-negative least squares on relative error: each row is divided by its measured time."""
    import numpy as np
    from scipy.optimize import nnls

    rows = [r for r in records if r["mode"] == mode and not r.get("skipped")]
    clean = [r for r in rows if not r.get("contended")]
    excluded = len(rows) - len(clean)
    if len(clean) >= 4:  # points timed while other processes took the CPU are left out when enough remain
        rows = clean
    else:
        excluded = 0
    if len(rows) < 4:
        return None
    density = DENSITY[backend]
    a, t = [], []
    for r in rows:
        entries = float(4 ** r["n"] if density else 2 ** r["n"])
        passes = r["shots"] if mode == "trajectories" else 1
        a.append([1.0, passes * r["ops"], passes * r["ops"] * entries, r["shots"]])
        t.append(r["seconds"])
    matrix, seconds = np.array(a), np.array(t)
    weighted = matrix / seconds[:, None]
    scale = weighted.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(weighted / scale, np.ones(len(seconds)))
    coef = coef / scale
    predicted = matrix @ coef
    rel = np.abs(predicted - seconds) / seconds
    worst = int(np.argmax(rel))
    details = [
        {**r, "predicted": float(p), "rel_err": float(e)}
        for r, p, e in zip(rows, predicted, rel, strict=True)
    ]
    return Fit(
        backend=backend,
        mode=mode,
        startup_s=float(coef[0]),
        per_op_s=float(coef[1]),
        per_entry_s=float(coef[2]),
        per_shot_s=float(coef[3]),
        points=len(rows),
        excluded=excluded,
        rel_err_max=float(rel.max()),
        rel_err_median=float(np.median(rel)),
        worst=f"{rows[worst]['spec']} x{rows[worst]['shots']}: {seconds[worst]:.3g} s measured, "
        f"{predicted[worst]:.3g} s predicted",
        cpu_ratio=float(np.median([r["cpu_ratio"] for r in rows])),
        threads=max(r["threads"] for r in rows),
        details=details,
    )


def round_copies(x: float) -> float:
    """Up to the next multiple of 0.5, with a tolerance of 0.1 state (a fixed MiB or two on top of the smallest
    state should not add half a state at every size): 1.6 -> 1.5, 1.61 -> 2."""
    return max(0.5, math.ceil(round(x * 2 - 0.2, 6)) / 2)


def machine_info() -> dict[str, str]:
    import importlib.metadata as md

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "not installed"

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": f"{os.cpu_count()} logical ({affinity} usable)",
        "ram": ram,
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "cirq-core": version("cirq-core"),
        "qiskit": version("qiskit"),
        "qiskit-aer": version("qiskit-aer"),
        "proxima-agent": version("proxima-agent"),
    }


def fmt_table(headers: list[str], rows: list[list[str]]) -> tuple[str, str]:
    """(plain text, Markdown) renderings of one table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    text = "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
    md = "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        + ["| " + " | ".join(r) + " |" for r in rows]
    )
    return text, md


def measure_backend(backend: str, plan: Plan, max_wait: float) -> dict[str, Any]:
    """All measurements of one backend, in fresh subprocesses: the raw records the report is computed from."""
    busy0, own0, t0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    bare = [run_worker("bare", {}, 60)[0]["VmRSS"] for _ in range(3)]
    memory = run_worker("memory", {"backend": backend}, 120)
    for spec, noisy in plan.memory[backend]:
        log(f"{backend}: memory {spec}{' noisy' if noisy else ''} (fresh process)")
        got = run_worker("memory", {"backend": backend, "spec": spec, "noisy": noisy}, 120)
        if got and "spec" in got[0]:
            r = got[0]
            memory.append(r)
            ratio = max(r["hwm_increase"], r["sampled_increase"]) / r["state_bytes"]
            log(
                f"  peak +{ratio * r['state_bytes'] / MiB:.0f} MiB = {ratio:.2f} x state in {r['wall_s']:.1f} s"
            )
    log(f"{backend}: timing {len(plan.time[backend])} points in one warm process")

    def progress(record: dict[str, Any]) -> None:
        head = f"  {record['mode']:<12} {record['spec']:<18} x{record['shots']:<6}"
        if record.get("skipped"):
            log(f"{head} skipped (a smaller point was slow)")
            return
        tail = f"  waited {record['waited_s']:.0f} s for a quiet CPU" if record["waited_s"] >= 1 else ""
        if record["contended"]:
            tail += f"  CONTENDED (waited for a CPU {record['starved']:.0%} of the run)"
        log(
            f"{head} ops {record['ops']:<5} {record['seconds']:8.3f} s  cpu/wall {record['cpu_ratio']:.2f}{tail}"
        )

    timing = run_worker(
        "time",
        {
            "backend": backend,
            "points": plan.time[backend],
            "max_run_s": plan.max_run_s,
            "wait_budget_s": max_wait,
        },
        plan.worker_timeout_s + max_wait,
        progress,
    )
    elapsed = time.perf_counter() - t0
    return {
        "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
        "grid": plan.name,
        "seconds": elapsed,
        "other_cores": max(0.0, (busy_cpu_seconds() - busy0) - (own_cpu_seconds() - own0)) / elapsed,
        "bare_rss": statistics.median(bare),
        "memory": memory,
        "time": timing,
    }


@dataclass
class Analysis:
    backend: str
    overhead: int | None
    copies: float | None
    max_ratio: float
    marginal: float | None
    fits: list[Fit]
    memory_rows: list[list[str]]
    notes: list[str]


def analyse(backend: str, data: dict[str, Any]) -> Analysis:
    notes: list[str] = []
    rss = [r["rss_after_bell"] for r in data["memory"]]
    overhead = int(statistics.median(rss) - data["bare_rss"]) if rss else None
    rows, sizes, best = [], [], 0.0
    for r in (r for r in data["memory"] if "spec" in r):
        increase = max(r["hwm_increase"], r["sampled_increase"])
        ratio = increase / r["state_bytes"]
        best = max(best, ratio)
        sizes.append((r["state_bytes"], increase))
        sampler = r["sampled_increase"] / r["state_bytes"]
        if r["hwm_raised"] and sampler < 0.5 * ratio:
            notes.append(
                f"{backend}: the run's own 5 ms RSS sampler (MemoryUse.peak_increase_bytes) saw {sampler:.2f} states "
                f"at {r['spec']}, the kernel's high-water mark {ratio:.2f}: the library holds the GIL while it runs"
            )
        rows.append(
            [
                backend,
                f"{r['num_qubits']}",
                r["spec"] + (" +noise" if r["noisy"] else ""),
                f"{r['state_bytes'] / MiB:.0f}",
                f"{r['hwm_increase'] / MiB:.0f}" + ("" if r["hwm_raised"] else " (<=)"),
                f"{r['sampled_increase'] / MiB:.0f}",
                f"{ratio:.2f}",
                f"{r['wall_s']:.1f}",
                f"{r['cpu_s'] / max(r['wall_s'], 1e-9):.2f}",
                f"{r['threads_after']}",
            ]
        )
    sizes.sort()
    marginal = None
    if len(sizes) >= 2 and sizes[-1][0] > sizes[-2][0]:
        (s0, i0), (s1, i1) = sizes[-2], sizes[-1]
        marginal = (i1 - i0) / (s1 - s0)
    fits = [f for mode in ("exact", "trajectories") if (f := fit_time(backend, mode, data["time"]))]
    for f in fits:
        if f.cpu_ratio > 1.3:
            notes.append(f"{backend} ({f.mode}): cpu/wall {f.cpu_ratio:.2f}, i.e. it runs on several threads")
    contended = [r for r in data["time"] if r.get("contended")]
    waited = sum(r.get("waited_s", 0.0) for r in data["time"])
    if contended or waited >= 5:
        notes.append(
            f"{backend}: waited {waited:.0f} s in all for other processes to leave the CPU; "
            f"{len(contended)} point(s) could only be timed while they ran"
        )
    return Analysis(
        backend, overhead, round_copies(best) if best else None, best, marginal, fits, rows, notes
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (about 2 minutes)")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated backend ids to measure"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "calibration.md", help="Markdown report"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; do not write the Markdown report"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=120.0,
        help="seconds each timing process may wait in all for other processes to leave the CPU (0: never wait)",
    )
    parser.add_argument("--raw", type=Path, help="also save every measurement as JSON to this file")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a --raw file of an earlier run: backends not measured now are reported from it",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        WORKERS[args.worker[0]](json.loads(args.worker[1]))
        return 0

    measure = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(measure) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    raw: dict[str, Any] = json.loads(args.reuse.read_text()) if args.reuse else {}
    started = time.perf_counter()
    plan = make_plan(args.quick)
    log(f"calibrating {', '.join(measure)} ({plan.name} grid)")
    for backend in measure:
        raw[backend] = measure_backend(backend, plan, args.max_wait)
    elapsed = time.perf_counter() - started
    if args.raw:
        args.raw.write_text(json.dumps(raw, indent=1, default=str))

    # ------------------------------------------------------------------ report
    backends = [b for b in BACKENDS if b in raw]
    analyses = [analyse(b, raw[b]) for b in backends]
    headers = [
        "backend", "mode", "overhead MiB", "state_copies", "startup_s", "per_op_s", "per_entry_s", "per_shot_s",
        "rel err max", "rel err median", "points", "cpu/wall",
    ]  # fmt: skip
    rows, memory_rows, paste, worst_lines, notes, provenance = [], [], [], [], [], []
    for a in analyses:
        data = raw[a.backend]
        provenance.append(
            f"{a.backend}: {data['grid']} grid, {data['measured_at']}, {data['seconds'] / 60:.1f} min, other "
            f"processes used {data['other_cores']:.2f} cores on average meanwhile"
            + (" (reused from an earlier run)" if a.backend not in measure else "")
        )
        memory_rows += a.memory_rows
        notes += a.notes
        for f in a.fits:
            first = f.mode == "exact"
            rows.append(
                [
                    a.backend,
                    f.mode,
                    f"{a.overhead / MiB:.0f}" if first and a.overhead is not None else "",
                    f"{a.copies:g}" if first and a.copies is not None else "",
                    f"{f.startup_s:.3g}",
                    f"{f.per_op_s:.3g}",
                    f"{f.per_entry_s:.3g}",
                    f"{f.per_shot_s:.3g}",
                    f"{f.rel_err_max:.0%}",
                    f"{f.rel_err_median:.0%}",
                    f"{f.points}" + (f" (+{f.excluded} contended, left out)" if f.excluded else ""),
                    f"{f.cpu_ratio:.2f}",
                ]
            )
            worst_lines.append(f"{a.backend} {f.mode}: worst point {f.worst}")
        paste.append(f"# {a.backend}")
        if a.overhead is not None:
            paste.append(
                f"overhead_bytes = {math.ceil(a.overhead / MiB)} * 2**20  # measured {a.overhead} bytes"
            )
        if a.copies is not None:
            marginal = f", marginal {a.marginal:.2f}" if a.marginal is not None else ""
            paste.append(f"state_copies = {a.copies:g}  # max measured {a.max_ratio:.2f}{marginal}")
        for f in a.fits:
            name = "time_model" if f.mode == "exact" else "trajectory_time_model"
            paste.append(f"{name} = TimeModel({f.model_args()})")
    main_text, main_md = fmt_table(headers, rows)
    mem_headers = [
        "backend", "n", "circuit", "state MiB", "peak +MiB (HWM)", "peak +MiB (sampled)", "copies", "s", "cpu/wall",
        "threads",
    ]  # fmt: skip
    mem_text, mem_md = fmt_table(mem_headers, memory_rows)
    notes = list(dict.fromkeys(notes))

    print()
    print(main_text)
    print()
    print(mem_text)
    print()
    print("\n".join(paste))
    print()
    print("\n".join(worst_lines))
    for line in notes:
        print("note:", line)
    print()
    print("\n".join(provenance))
    print(f"calibration took {elapsed:.0f} s")

    if not args.no_write:
        machine = "\n".join(f"- {k}: {v}" for k, v in machine_info().items())
        doc = f"""# Backend calibration

Written by `benchmarks/calibrate.py` on {dt.date.today().isoformat()}; measurements per backend:

{chr(10).join("- " + p for p in provenance)}

## Machine

{machine}

## Models

Memory: bytes = overhead_bytes + state_copies x state bytes (16 x 2^n for state vectors, 16 x 4^n for density
matrices). Overhead: RSS of a fresh interpreter after importing proxima_agent and the library and running a Bell
circuit, minus a bare interpreter's RSS (median of 3; {raw[backends[0]]["bare_rss"] / MiB:.1f} MiB). Copies: peak
RSS increase of one run (kernel high-water mark VmHWM, or the 5 ms sampler if larger) over the state's bytes, max
over sizes, rounded up to a multiple of 0.5 (with 0.1 state of tolerance); "marginal" is the slope between the two
largest sizes, i.e. without the fixed part.

Time: seconds = startup_s + ops x (per_op_s + entries x per_entry_s) [once; per shot in trajectory mode]
+ shots x per_shot_s, with ops = gates + noise channel applications and entries = 2^n or 4^n. Fitted by
non-negative least squares on relative error over warm runs (`total_s` of the result, minimum of up to 3 repeats
for runs under 5 s), random circuits (`random:N:DEPTH:SEED`), noise `{NOISE}` (density-matrix backends and
trajectory mode). The relative errors are those of the fitted model on the measured points. A repetition whose
threads spent over 5 % of it waiting for a CPU (run queue, /proc schedstat) is repeated after other processes go
quiet; a point with no clean repetition is marked contended and left out of the fit when at least 4 clean points
remain. cpu/wall is the median ratio of process CPU time to wall time (above 1: the library runs on several
threads).

{main_md}

## Memory runs

"(<=)" marks a run that did not raise the process's high-water mark (the figure is an upper bound).

{mem_md}

## Constants

```python
{chr(10).join(paste)}
```

## Worst points

{chr(10).join("- " + w for w in worst_lines)}
"""
        if notes:
            doc += "\n## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(doc)
        log(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
