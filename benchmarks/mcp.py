"""The MCP server (`proxima mcp`): cold start, warm tool calls and sustained HTTP load, measured in one run.

1. Cold start: wall time from spawning `python -m proxima_agent mcp` to the answer of `tools/list`, median of N
   runs, next to a bare MCP SDK server with one trivial tool (`benchmarks/bare_mcp_server.py`) started and
   measured the same way (runs interleaved). Target: at most 1.3x the bare server. For context: the import
   times of `mcp.server.mcpserver` and `proxima_agent.mcp.server` alone, and where the server's start-up
   import time goes (`-X importtime`, self time summed per package).
2. Warm execute over stdio: one server, after warm-up calls, R round trips of `execute` of bell (2 qubits,
   aer-sv, 100 shots), next to an in-process `backend.run` of the same circuit and the bare server's `add`
   round trip (the SDK's floor), measured in the same run; each job's transitions split the round trip into
   segments. Target: under 30 ms median.
3. Sustained HTTP load: `proxima mcp --transport http` on a free port, C clients (each its own session) calling
   `execute` on small circuits (bell, ghz:3, qft:3; aer-sv and lret) back to back for D seconds: successes,
   failures, calls/s, latency p50 / p99; worker processes counted before the server starts and after it stops
   (a leaked worker shows), and the server's exit on SIGTERM and on SIGINT. Target: every call succeeds and no
   worker is left behind.

All MCP traffic goes through the official SDK client (`mcp.Client`). Every server gets a fresh
PROXIMA_DATA_DIR, so the benchmark never touches the user's data.

    python benchmarks/mcp.py                          # all three (about 2-3 minutes on 2 cores)
    python benchmarks/mcp.py --only warm --repeats 100
    python benchmarks/mcp.py --markdown FILE          # also writes the section (docs/performance.md keeps it)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This file is called mcp.py: its folder must not shadow the MCP SDK's package `mcp`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import get_default_environment, stdio_client  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BARE = Path(__file__).resolve().parent / "bare_mcp_server.py"
WORKER_MARK = "proxima_agent.engine.worker"
BELL = {"circuit": "bell", "backend": "aer-sv", "shots": 100, "seed": 1}
TMP = Path(tempfile.mkdtemp(prefix="proxima-mcp-bench-"))  # every server's data directory lives under here


def fresh_data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="data-", dir=TMP))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


# --- worker processes -------------------------------------------------------------------------------------------


def workers() -> tuple[list[int], list[int]]:
    """The pids of worker processes on this machine: (all of them, those of this benchmark's servers, known by
    their PROXIMA_DATA_DIR). Other processes' workers (a test run, the user's own server) are counted apart."""
    every, ours = [], []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or WORKER_MARK not in " ".join(
                proc.info["cmdline"] or []
            ):
                continue
            every.append(proc.pid)
            if proc.environ().get("PROXIMA_DATA_DIR", "").startswith(str(TMP)):
                ours.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return every, ours


def wait_for_our_workers_to_go(timeout: float) -> list[int]:
    """Wait until no worker of ours is left (a server shutting down stops its workers); the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        left = workers()[1]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


# --- 1. cold start ----------------------------------------------------------------------------------------------


def stdio_params(args: list[str], data_dir: Path | None) -> StdioServerParameters:
    env = {"PROXIMA_DATA_DIR": str(data_dir)} if data_dir else {}
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))


async def time_to_tools_list(args: list[str], data_dir: Path | None, errlog: Any) -> tuple[float, float, int]:
    """Spawn the server, connect, list the tools: (seconds to the answer, seconds to close, tools)."""
    start = time.perf_counter()
    client = Client(stdio_client(stdio_params(args, data_dir), errlog=errlog), cache=None)
    async with client:
        listed = await client.list_tools()
        ready = time.perf_counter() - start
        closing = time.perf_counter()
    return ready, time.perf_counter() - closing, len(listed.tools)


def import_time(module: str, runs: int) -> float:
    """Median wall time of `python -c "import MODULE"`, in the environment the stdio servers get."""
    env = get_default_environment()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        code = f"import {module}" if module else "pass"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_imports(errlog_path: Path) -> tuple[list[tuple[str, float]], list[tuple[str, float]], float]:
    """`-X importtime` of a real start (spawn to tools/list): self time summed per top-level package, and the
    slowest Proxima modules by cumulative time."""
    with errlog_path.open("w") as errlog:
        asyncio.run(
            time_to_tools_list(["-X", "importtime", "-m", "proxima_agent", "mcp"], fresh_data_dir(), errlog)
        )
    wait_for_our_workers_to_go(10)
    per_package: Counter[str] = Counter()
    ours: dict[str, float] = {}
    for line in errlog_path.read_text().splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        self_us, cumulative_us, module = int(m[1]), int(m[2]), m[4]
        per_package[module.split(".")[0]] += self_us / 1e6
        if module.startswith("proxima_agent"):
            ours[module] = max(ours.get(module, 0.0), cumulative_us / 1e6)
    total = sum(per_package.values())
    slow = sorted(ours.items(), key=lambda kv: -kv[1])
    return per_package.most_common(8), slow[:6], total


@dataclass
class Cold:
    proxima: list[float]
    bare: list[float]
    proxima_close: list[float]
    bare_close: list[float]
    tools: int
    imports: dict[str, float]
    packages: list[tuple[str, float]] = field(default_factory=list)
    modules: list[tuple[str, float]] = field(default_factory=list)
    import_total: float = 0.0
    leaked: list[int] = field(default_factory=list)
    no_warm_up: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.proxima) / statistics.median(self.bare)


# Diagnostic: the same server with the engine's opening at start-up (`Runtime.warm_up`: engine import, database,
# a warm worker spawned) switched off, to show what that costs before `tools/list` is answered.
NO_WARM_UP = (
    "import sys; from proxima_agent.tools.context import Runtime; Runtime.warm_up = lambda self: None; "
    "sys.argv = ['proxima', 'mcp']; from proxima_agent.cli import entry; entry()"
)


def cold_start(runs: int) -> Cold:
    proxima_args, bare_args, cold_args = ["-m", "proxima_agent", "mcp"], [str(BARE)], ["-c", NO_WARM_UP]
    result = Cold([], [], [], [], 0, {})
    with (TMP / "cold-stderr.log").open("w") as errlog:
        asyncio.run(time_to_tools_list(bare_args, None, errlog))  # page both into the OS cache first
        asyncio.run(time_to_tools_list(proxima_args, fresh_data_dir(), errlog))
        wait_for_our_workers_to_go(10)
        for _ in range(runs):
            seconds, closing, _ = asyncio.run(time_to_tools_list(bare_args, None, errlog))
            result.bare.append(seconds)
            result.bare_close.append(closing)
            seconds, closing, result.tools = asyncio.run(
                time_to_tools_list(proxima_args, fresh_data_dir(), errlog)
            )
            result.proxima.append(seconds)
            result.proxima_close.append(closing)
            left = wait_for_our_workers_to_go(10)  # its warm worker must not compete with the next start
            result.leaked += left
            for pid in left:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
            seconds, _, _ = asyncio.run(time_to_tools_list(cold_args, fresh_data_dir(), errlog))
            result.no_warm_up.append(seconds)
    for module in ("", "mcp.server.mcpserver", "proxima_agent.mcp.server"):
        result.imports[module] = import_time(module, runs)
    result.packages, result.modules, result.import_total = startup_imports(TMP / "importtime.log")
    return result


def cold_table(c: Cold) -> list[str]:
    rows = [
        "| server | spawn to `tools/list` answer (median) | min / max | close (stdin shut to exit, median) |",
        "|---|---|---|---|",
    ]
    for label, times, close in (
        (f"`proxima mcp` ({c.tools} tools)", c.proxima, c.proxima_close),
        ("bare MCP SDK server (1 tool)", c.bare, c.bare_close),
        ("diagnostic: `proxima mcp` without opening the engine at start-up", c.no_warm_up, []),
    ):
        if times:
            rows.append(
                f"| {label} | {ms(statistics.median(times))} | {ms(min(times))} / {ms(max(times))} | "
                f"{ms(statistics.median(close)) if close else '-'} |"
            )
    no_warm_up = (
        f"; without opening the engine at start-up (`Runtime.warm_up` switched off: no engine import, database "
        f"or warm worker before the first call) "
        f"{statistics.median(c.no_warm_up) / statistics.median(c.bare):.2f}x"
        if c.no_warm_up
        else ""
    )
    rows += [
        "",
        f"Ratio proxima / bare: **{c.ratio:.2f}x** ({len(c.proxima)} runs each, interleaved){no_warm_up}.",
        "",
        "| `python -c ...` (median wall time) | |",
        "|---|---|",
        f"| `pass` (the interpreter alone) | {ms(c.imports[''])} |",
        f"| `import mcp.server.mcpserver` | {ms(c.imports['mcp.server.mcpserver'])} |",
        f"| `import proxima_agent.mcp.server` | {ms(c.imports['proxima_agent.mcp.server'])} |",
        "",
        f"Start-up import time (`-X importtime` of one start to `tools/list`, {ms(c.import_total)} in all), self "
        "time per package: "
        + ", ".join(f"{name} {ms(seconds)}" for name, seconds in c.packages)
        + ". Slowest Proxima modules (cumulative): "
        + ", ".join(f"`{name}` {ms(seconds)}" for name, seconds in c.modules)
        + ".",
    ]
    if c.leaked:
        rows += [
            "",
            f"Workers still alive 10 s after a stdio server closed: {len(c.leaked)} (pids {c.leaked}).",
        ]
    return rows


# --- 2. warm execute --------------------------------------------------------------------------------------------


SEGMENTS = (
    ("request in to the job created (MCP dispatch, consent check, circuit parsed)", None, "IDLE"),
    ("job created to READY (planned, validated, estimated)", "IDLE", "READY"),
    ("READY to EXECUTING (worker taken, task sent)", "READY", "EXECUTING"),
    ("EXECUTING to COMPLETED (run in the worker, result back and stored)", "EXECUTING", "COMPLETED"),
    ("COMPLETED to the answer (job view, result read, reply sent)", "COMPLETED", None),
)


@dataclass
class Warm:
    mcp: list[float]
    job: list[float]
    direct: list[float]
    bare: list[float]
    segments: dict[str, list[float]]
    errors: list[str]
    leaked: list[int]

    @property
    def ratio(self) -> float:
        return statistics.median(self.mcp) / statistics.median(self.direct)


async def warm_calls(
    repeats: int, warmup: int
) -> tuple[list[float], list[float], dict[str, list[float]], list[str]]:
    """R timed `execute` calls on one stdio server; then (untimed) each job's transitions, which split the round
    trip into segments (the server stamps them with the same wall clock)."""
    times, job_times, errors, stamps = [], [], [], []
    params = stdio_params(["-m", "proxima_agent", "mcp"], fresh_data_dir())
    with (TMP / "warm-stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog), cache=None) as client:
            await client.list_tools()
            for index in range(warmup + repeats):
                sent, start = time.time(), time.perf_counter()
                result = await client.call_tool("execute", BELL)
                seconds, received = time.perf_counter() - start, time.time()
                data = result.structured_content or {}
                if result.is_error or data.get("state") != "COMPLETED":
                    errors.append(str(data.get("error") or data.get("state")))
                elif index >= warmup:
                    times.append(seconds)
                    job_times.append(float(data.get("elapsed_s") or 0.0))
                    stamps.append((sent, received, data["job_id"]))
            segments: dict[str, list[float]] = {label: [] for label, _, _ in SEGMENTS}
            for sent, received, job_id in stamps:
                status = (await client.call_tool("job_status", {"job_id": job_id})).structured_content or {}
                at = {t["new"]: t["at"] for t in status.get("transitions", [])}
                at[None] = sent  # type: ignore[index]
                for label, begin, end in SEGMENTS:
                    t0, t1 = at.get(begin), received if end is None else at.get(end)
                    if t0 is not None and t1 is not None:
                        segments[label].append(t1 - t0)
    return times, job_times, segments, errors


async def bare_calls(repeats: int, warmup: int) -> list[float]:
    """The SDK's own floor: round trips of the bare server's `add` tool over stdio."""
    times = []
    with (TMP / "bare-stderr.log").open("w") as errlog:
        async with Client(stdio_client(stdio_params([str(BARE)], None), errlog), cache=None) as client:
            for index in range(warmup + repeats):
                start = time.perf_counter()
                result = await client.call_tool("add", {"a": 1, "b": 2})
                if index >= warmup and not result.is_error:
                    times.append(time.perf_counter() - start)
    return times


def direct_runs(repeats: int) -> list[float]:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build

    backend, circuit, options = get_backend("aer-sv"), build("bell"), RunOptions(shots=100, seed=1)
    backend.run(circuit, options)  # warm: imports and caches, as in a warm worker
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(circuit, options)
        times.append(time.perf_counter() - start)
    return times


def warm_execute(repeats: int, warmup: int = 5) -> Warm:
    times, job_times, segments, errors = asyncio.run(warm_calls(repeats, warmup))
    leaked = wait_for_our_workers_to_go(10)
    bare = asyncio.run(bare_calls(repeats, warmup))
    return Warm(times, job_times, direct_runs(repeats), bare, segments, errors, leaked)


def warm_table(w: Warm) -> list[str]:
    rows = [
        "| bell (2 qubits), aer-sv, 100 shots | median | p90 | min |",
        "|---|---|---|---|",
    ]

    def row(label: str, times: list[float]) -> None:
        if times:
            rows.append(
                f"| {label} | {ms(statistics.median(times))} | {ms(percentile(times, 90))} | {ms(min(times))} |"
            )

    row("**`execute` over MCP stdio (round trip)**", w.mcp)
    for label, _, _ in SEGMENTS:
        row(f"&nbsp;&nbsp;{label}", w.segments[label])
    row("the job's own time (engine timer, `elapsed_s`)", w.job)
    row("direct `backend.run` in this process", w.direct)
    row("bare MCP SDK server: `add(1, 2)` round trip over stdio", w.bare)
    rows += [
        "",
        f"Ratio MCP round trip / direct run (medians): **{w.ratio:.1f}x** ({len(w.mcp)} calls); the segments are "
        "medians of each job's own segment (from its transitions), so they need not add up to the round trip's "
        "median.",
    ]
    if w.errors:
        rows.append(f"Failed or unfinished calls: {len(w.errors)} ({Counter(w.errors).most_common(3)}).")
    if w.leaked:
        rows.append(f"Workers still alive 10 s after the stdio server closed: {len(w.leaked)}.")
    return rows


# --- 3. sustained HTTP load -------------------------------------------------------------------------------------

LOAD_CASES = [(c, b) for b in ("aer-sv", "lret") for c in ("bell", "ghz:3", "qft:3")]
LONG_JOB = {  # a few seconds on lret: still running when the server is told to stop
    "circuit": "ghz:16", "backend": "lret", "noise": "amplitude_damping:0.001;phase_damping:0.001",
    "shots": 100, "seed": 1, "wait_seconds": 0.5,
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HttpServer:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    stderr_path: Path


def start_http(name: str) -> HttpServer:
    port, data_dir = free_port(), fresh_data_dir()
    stderr_path = TMP / f"{name}-stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxima_agent", "mcp", "--transport", "http", "--port", str(port)],
            cwd=ROOT, env=os.environ | {"PROXIMA_DATA_DIR": str(data_dir)},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the HTTP server exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return HttpServer(process, f"http://127.0.0.1:{port}/mcp", data_dir, stderr_path)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the HTTP server did not listen within 60 s")


@dataclass
class Stop:
    """How a server went when told to stop."""

    seconds: float | None  # None: still running after the timeout (then killed)
    code: int | None
    traceback: bool  # a traceback on its stderr
    wal_left: bool  # the SQLite write-ahead log still there: the store was not closed
    unfinished_jobs: int  # jobs left in a state that is not final (COMPLETED, FAILED, ABORTED)
    workers_left: list[int]

    @property
    def clean(self) -> bool:
        return (
            self.seconds is not None
            and not self.traceback
            and not self.wal_left
            and self.unfinished_jobs == 0
            and not self.workers_left
        )


def stop(server: HttpServer, sig: int, timeout: float = 10.0) -> Stop:
    start = time.perf_counter()
    server.process.send_signal(sig)
    try:
        code: int | None = server.process.wait(timeout)
        seconds: float | None = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        seconds, code = None, None
    left = wait_for_our_workers_to_go(5)
    for pid in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    db = server.data_dir / "proxima.db"
    wal_left = Path(f"{db}-wal").exists()
    unfinished = -1
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as connection:
        (unfinished,) = connection.execute(
            "SELECT COUNT(*) FROM jobs WHERE state NOT IN ('COMPLETED', 'FAILED', 'ABORTED')"
        ).fetchone()
    traceback = "Traceback" in server.stderr_path.read_text(errors="replace")
    return Stop(seconds, code, traceback, wal_left, unfinished, left)


@dataclass
class Load:
    clients: int
    seconds: float
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    unfinished: int = 0  # calls that returned a job id before the job ended (not failures)
    before: tuple[int, int] = (0, 0)
    peak: int = 0
    spawned: set[int] = field(default_factory=set)
    stops: dict[str, Stop] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def leaked(self) -> list[int]:
        return [pid for s in self.stops.values() for pid in s.workers_left]


async def load_client(url: str, index: int, ready: list[int], start: asyncio.Event, out: Load) -> None:
    try:
        async with Client(url, cache=None, read_timeout_seconds=120) as client:
            await client.list_tools()
            ready[0] += 1
            await start.wait()
            n = index
            while time.perf_counter() < out.wall:  # the deadline, until the run is over
                circuit, backend = LOAD_CASES[n % len(LOAD_CASES)]
                n += 1
                began = time.perf_counter()
                try:
                    result = await client.call_tool(
                        "execute", {"circuit": circuit, "backend": backend, "shots": 100, "seed": n}
                    )
                except Exception as exc:
                    out.failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                    continue
                data = result.structured_content or {}
                if result.is_error:
                    error = data.get("error") or {}
                    out.failures[f"{error.get('code', '?')}: {str(error.get('message', ''))[:80]}"] += 1
                    continue
                if data.get("state") != "COMPLETED":
                    out.unfinished += 1
                out.latencies.append(time.perf_counter() - began)
    except Exception as exc:  # the session itself failed
        ready[0] += 1
        out.failures[f"session: {type(exc).__name__}: {str(exc)[:80]}"] += 1


async def drive(server: HttpServer, clients: int, seconds: float, out: Load) -> None:
    ready, start = [0], asyncio.Event()
    out.wall = math.inf
    tasks = [asyncio.create_task(load_client(server.url, i, ready, start, out)) for i in range(clients)]
    opening = time.monotonic()
    while (
        ready[0] < clients and time.monotonic() - opening < 60
    ):  # every session open before the clock starts
        await asyncio.sleep(0.05)
    began = time.perf_counter()
    out.wall = began + seconds
    start.set()
    process = psutil.Process(server.process.pid)
    while not all(t.done() for t in tasks):
        with contextlib.suppress(psutil.Error):
            pids = {p.pid for p in process.children() if WORKER_MARK in " ".join(p.cmdline())}
            out.peak = max(out.peak, len(pids))
            out.spawned |= pids
        await asyncio.wait(tasks, timeout=0.1)
    out.wall = time.perf_counter() - began


async def call(url: str, arguments: dict[str, Any]) -> str:
    async with Client(url, cache=None) as client:
        result = await client.call_tool("execute", arguments)
        assert not result.is_error, result.structured_content
        return str((result.structured_content or {}).get("state"))


def sustained_load(clients: int, seconds: float) -> Load:
    out = Load(clients, seconds)
    every, ours = workers()
    out.before = (len(every), len(ours))
    server = start_http("load")
    try:
        asyncio.run(drive(server, clients, seconds, out))
    finally:
        out.stops["SIGTERM after the load"] = stop(server, signal.SIGTERM)
    for label, sig in (("SIGINT", signal.SIGINT), ("SIGTERM", signal.SIGTERM)):
        server, state = start_http(label.lower()), "?"
        try:  # a job of a few seconds, still running when the signal comes
            state = asyncio.run(call(server.url, LONG_JOB))
        finally:
            out.stops[f"{label}, a job in state {state}"] = stop(server, sig)
    return out


def load_table(lo: Load) -> list[str]:
    calls = lo.ok + lo.failed
    lat = lo.latencies or [math.nan]
    rows = [
        "| clients x seconds | calls | succeeded | failed | calls/s | latency p50 | latency p99 | max |",
        "|---|---|---|---|---|---|---|---|",
        f"| {lo.clients} x {lo.seconds:.0f} s | {calls} | {lo.ok} | {lo.failed} | {lo.ok / lo.wall:.1f} | "
        f"{ms(statistics.median(lat))} | {ms(percentile(lat, 99))} | {ms(max(lat))} |",
        "",
        f"Circuits bell, ghz:3, qft:3 on aer-sv and lret, 100 shots, round robin; {lo.wall:.1f} s from the start "
        f"to the last answer. Calls that came back with a job id before the job ended: {lo.unfinished}. "
        f"Worker processes of the server: {lo.peak} at once at the peak, {len(lo.spawned)} different ones seen "
        "(sampled every 0.1 s).",
    ]
    if lo.failures:
        rows.append(
            "Failures: "
            + "; ".join(f"{count} x `{text}`" for text, count in lo.failures.most_common(5))
            + "."
        )
    rows += [
        "",
        f"Worker processes before the first server started: {lo.before[1]} of this benchmark ({lo.before[0]} on "
        f"the machine); left after the servers stopped: {len(lo.leaked)}"
        + (f" (pids {lo.leaked})." if lo.leaked else "."),
        "",
        "| server stopped by | exited within 10 s | exit code | traceback | store closed | jobs left unfinished "
        "| workers left |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, s in lo.stops.items():
        rows.append(
            f"| {label} | {'no' if s.seconds is None else f'yes, {s.seconds:.2f} s'} | {s.code} | "
            f"{'yes' if s.traceback else 'no'} | {'no (WAL left)' if s.wal_left else 'yes'} | "
            f"{s.unfinished_jobs} | {len(s.workers_left)} |"
        )
    rows += [
        "",
        "Exit code -15 after SIGTERM is uvicorn's way: after its graceful shutdown it raises the signal it caught "
        "again, so the process ends as killed by it. Store closed: no SQLite write-ahead log left behind. Jobs left "
        "unfinished: not COMPLETED, FAILED or ABORTED in the server's database.",
    ]
    return rows


# --- the report -------------------------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("cold", "warm", "load"))
    parser.add_argument("--runs", type=int, default=7, help="cold starts per server (default 7)")
    parser.add_argument("--repeats", type=int, default=50, help="warm execute calls (default 50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the HTTP load (default 30)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients (default 20)")
    parser.add_argument("--markdown", type=Path, help="write the section to this Markdown file")
    args = parser.parse_args()
    started, cpu_before, ours_before = time.time(), busy_cpu_seconds(), our_cpu_seconds()
    sections: list[str] = []
    targets: list[str] = []
    try:
        if args.only in (None, "cold"):
            print(f"cold start: {args.runs} runs of each server ...", flush=True)
            c = cold_start(args.runs)
            table = cold_table(c)
            sections += ["### Cold start (stdio)", "", *table, ""]
            targets.append(f"cold start <= 1.3x the bare server: {verdict(c.ratio <= 1.3)} ({c.ratio:.2f}x)")
            print("\n".join(table) + "\n", flush=True)
        if args.only in (None, "warm"):
            print(f"warm execute: {args.repeats} calls ...", flush=True)
            w = warm_execute(args.repeats)
            table = warm_table(w)
            sections += ["### Warm `execute` over stdio", "", *table, ""]
            median = statistics.median(w.mcp)
            targets.append(
                f"warm execute under 30 ms median: {verdict(median < 0.030 and not w.errors)} ({ms(median)})"
            )
            print("\n".join(table) + "\n", flush=True)
        if args.only in (None, "load"):
            print(f"HTTP load: {args.clients} clients x {args.seconds:.0f} s ...", flush=True)
            lo = sustained_load(args.clients, args.seconds)
            table = load_table(lo)
            sections += ["### Sustained load over streamable HTTP", "", *table, ""]
            met = lo.failed == 0 and lo.ok > 0 and not lo.leaked
            targets.append(
                f"{lo.clients} clients x {lo.seconds:.0f} s all succeed, no worker leaked: {verdict(met)} "
                f"({lo.failed} of {lo.ok + lo.failed} calls failed, {len(lo.leaked)} workers left)"
            )
            clean = [label for label, s in lo.stops.items() if not s.clean]
            targets.append(
                "clean exit on SIGTERM / SIGINT within 10 s: "
                + (verdict(True) if not clean else f"{verdict(False)} ({', '.join(clean)})")
            )
            print("\n".join(table) + "\n", flush=True)
    finally:
        print(f"(server logs and data under {TMP})", flush=True)
    elapsed = time.time() - started
    others = max(0.0, (busy_cpu_seconds() - cpu_before) - (our_cpu_seconds() - ours_before))
    header = [
        "## The MCP server",
        "",
        f"Measured by `python benchmarks/mcp.py` on {dt.date.today()} ({elapsed / 60:.1f} minutes): "
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"mcp {version('mcp')}, uvicorn {version('uvicorn')}. Other processes on the machine used {others:.0f} "
        f"CPU-seconds during the run ({others / elapsed:.0%} of one core). All MCP traffic through the SDK's own "
        "client (`mcp.Client`, stdio and streamable HTTP); every server in a fresh `PROXIMA_DATA_DIR`.",
        "",
    ]
    footer = ["Targets:", "", *(f"- {target}" for target in targets)]
    text = "\n".join(header + sections + footer) + "\n"
    print("\n".join(footer))
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")


def busy_cpu_seconds() -> float:
    """CPU-seconds the whole machine has been busy (every core)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def our_cpu_seconds() -> float:
    """CPU-seconds of this process and every descendant it (or they) waited for: servers, workers."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def version(distribution: str) -> str:
    from importlib.metadata import version as v

    return v(distribution)


if __name__ == "__main__":
    main()
