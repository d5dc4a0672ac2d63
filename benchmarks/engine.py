"""The engine's overhead over calling a backend directly, and checkpoint throughput, measured in one run.

1. A 2-qubit circuit (bell, 100 shots): the median of N direct `backend.run` calls in this process next to the
   median of N jobs through the engine (submit -> worker -> result, every transition stored in SQLite) with a
   warm worker. Target: under 20 ms per job.
2. A circuit that takes seconds (lret, ghz:15 with damping): direct run vs the same through the engine, as a
   ratio. Target: under 3 % extra.
3. Checkpoint write and read (with its checksum) of a 20-qubit state: lret's saved state of a 20-qubit circuit
   (random:20:2 before its last step, rank 1: 16 MiB of complex128), as MB/s.

    python benchmarks/engine.py                          # prints the table
    python benchmarks/engine.py --markdown FILE          # also writes it (docs/performance.md keeps it)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path


def direct(circuit_name: str, backend_id: str, noise: str | None, shots: int, repeats: int) -> list[float]:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise

    backend, circuit = get_backend(backend_id), build(circuit_name)
    options = RunOptions(shots=shots, seed=1, noise=parse_noise(noise))
    backend.run(circuit, options)  # warm: imports and caches, as in a warm worker
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(circuit, options)
        times.append(time.perf_counter() - start)
    return times


async def through_engine(
    circuit_name: str, backend_id: str, noise: str | None, shots: int, repeats: int
) -> list[float]:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise
    from proxima_agent.config import ProximaConfig
    from proxima_agent.engine.engine import Engine

    circuit = build(circuit_name)
    options = RunOptions(shots=shots, seed=1, noise=parse_noise(noise))
    config = ProximaConfig.model_validate({"engine": {"checkpoint_every_s": None}})
    async with await Engine.open(config, sentinel=True) as engine:
        warm = await engine.submit(circuit, options, backend_id)  # the worker imports and warms up once
        await engine.wait(warm.id)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            job = await engine.submit(circuit, options, backend_id)
            await engine.wait(job.id)
            times.append(time.perf_counter() - start)
            assert job.result is not None, job.error
    return times


def checkpoint_throughput(repeats: int = 5) -> tuple[float, float, int]:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build
    from proxima_agent.engine.checkpoints import read_checkpoint, write_checkpoint

    execution = get_backend("lret").start(build("random:20:2:1"), RunOptions(shots=10, seed=1))
    while execution.position < execution.total_steps - 1:  # dense by now: compression cannot flatter it
        execution.advance()
    folder = Path(tempfile.mkdtemp(prefix="proxima-ckpt-"))
    writes, reads = [], []
    for number in range(1, repeats + 1):
        start = time.perf_counter()
        state = execution.save()
        write_checkpoint(
            folder, job_id="bench", number=number, position=execution.position, total=execution.total_steps,
            backend="lret", state=state, simulation_seconds=0.0, reason="benchmark",
        )  # fmt: skip
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, data = read_checkpoint(folder / f"{number:04d}.json", "bench")
        execution.restore(data)
        reads.append(time.perf_counter() - start)
    raw = 16 * 2**20  # the 20-qubit state's bytes in memory (complex128, rank 1)
    return raw / statistics.median(writes) / 1e6, raw / statistics.median(reads) / 1e6, len(state)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("PROXIMA_DATA_DIR", tempfile.mkdtemp(prefix="proxima-bench-"))

    small = ("bell", "aer-sv", None, 100)
    long = ("ghz:15", "lret", "amplitude_damping:0.001;phase_damping:0.001", 1000)
    rows = []
    for label, case, repeats in (
        ("2-qubit bell, aer-sv", small, args.repeats),
        ("ghz:15 noisy, lret", long, 5),
    ):
        d = statistics.median(direct(*case, repeats))
        e = statistics.median(asyncio.run(through_engine(*case, repeats)))
        rows.append((label, d, e))
        print(f"{label}: direct {d * 1e3:.1f} ms, engine {e * 1e3:.1f} ms", flush=True)
    write_mb, read_mb, stored = checkpoint_throughput()
    lines = [
        "| case | direct (median) | through the engine (median) | overhead | ratio |",
        "|---|---|---|---|---|",
    ]
    for label, d, e in rows:
        lines.append(
            f"| {label} | {d * 1e3:.1f} ms | {e * 1e3:.1f} ms | {(e - d) * 1e3:+.1f} ms | {e / d:.3f}x |"
        )
    lines += [
        "",
        f"Checkpoint of a 20-qubit lret state (16 MiB in memory, {stored / 2**20:.1f} MiB compressed on disk): "
        f"write {write_mb:.0f} MB/s, read with checksum and restore {read_mb:.0f} MB/s (of the in-memory size).",
    ]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
