"""Terminal rendering with rich: tables and a top-outcomes histogram. Nothing here computes a number."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from proxima_agent.backends.base import BackendInfo
from proxima_agent.backends.result import SimulationResult
from proxima_agent.circuits.summary import CircuitSummary
from proxima_agent.selection.estimate import format_bytes, format_seconds
from proxima_agent.selection.models import Estimate


def backends_table(infos: list[BackendInfo], max_qubits: dict[str, int], health: dict[str, Any]) -> Table:
    table = Table(title="Backends", title_justify="left")
    for column in ("id", "name", "available", "version", "method", "noise", "max qubits here"):
        table.add_column(column)
    if health:
        table.add_column("self test")
    for info in infos:
        caps = info.capabilities
        noise = "exact" if caps.exact_noise else "trajectories"
        row = [
            info.id,
            info.name,
            "[green]yes[/]" if info.available else f"[red]no[/] ({info.reason})",
            info.version or "-",
            caps.method,
            noise,
            str(max_qubits.get(info.id, "-")) + (" at rank 1" if caps.method == "low_rank" else ""),
        ]
        if health:
            h = health.get(info.id)
            row.append(
                "-"
                if h is None
                else (f"[green]ok[/] {h.seconds:.2f} s" if h.healthy else f"[red]failed[/] {h.detail}")
            )
        table.add_row(*row)
    return table


def histogram(result: SimulationResult, top: int = 16, width: int = 40) -> Table:
    probs = result.probability_dict()
    rows = result.top_outcomes(top)
    peak = max((n for _, n in rows), default=1)
    table = Table(
        title=f"Top outcomes ({len(result.counts)} distinct of {result.shots} shots)", title_justify="left"
    )
    table.add_column("outcome", style="bold")
    table.add_column("count", justify="right")
    table.add_column("freq", justify="right")
    if result.probabilities is not None:
        table.add_column("exact p", justify="right")
    table.add_column("")
    for outcome, count in rows:
        bar = "█" * max(1, round(width * count / peak))
        row = [outcome, str(count), f"{count / result.shots:.4f}"]
        if result.probabilities is not None:
            row.append(f"{probs.get(outcome, 0.0):.4f}")
        table.add_row(*row, Text(bar, style="cyan"))
    return table


def result_panel(result: SimulationResult, explanation: str | None) -> Group:
    t = result.timing
    lines = [
        f"backend [bold]{result.backend}[/] ({result.method}), circuit {result.circuit}: "
        f"{result.num_qubits} qubits, {result.shots} shots, seed {result.seed}",
    ]
    if explanation:
        lines.append(f"[dim]chosen because[/] {explanation}")
    lines.append(
        f"time {format_seconds(t.total_s)} (conversion {format_seconds(t.conversion_s)}, "
        f"simulation {format_seconds(t.simulation_s)})"
        + (
            f"; peak memory +{format_bytes(result.memory.peak_increase_bytes)} "
            f"(process {format_bytes(result.memory.peak_rss_bytes)})"
            if result.memory
            else ""
        )
    )
    if lret := result.metadata.get("lret"):
        lines.append(
            f"lret: rank {lret['final_rank']} (peak {lret['peak_rank']}), {lret['truncations']} truncations, "
            f"discarded weight {lret['discarded_weight']:.2e} of threshold {lret['threshold']:g}: trace distance "
            f"to the exact state <= {lret['trace_distance_bound']:.2e}; probabilities renormalised by "
            f"{lret['renormalized_by']:.6g}"
        )
    for pauli, value in result.expectations.items():
        lines.append(f"<{pauli}> = {value:.6f}")
    if not result.exact:
        lines.append(
            "[dim]counts are sampled; no exact probabilities for this run (trajectories or mid-circuit "
            "measurement)[/]"
        )
    return Group(Text.from_markup("\n".join(lines)), histogram(result))


def summary_table(summary: CircuitSummary) -> Table:
    table = Table(title=f"Circuit {summary.name}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("qubits", summary.num_qubits),
        ("classical bits", summary.num_clbits),
        ("depth", summary.depth),
        ("gates", summary.size),
        ("gate counts", ", ".join(f"{k} {v}" for k, v in summary.gate_counts.items()) or "-"),
        ("two-qubit gates", summary.two_qubit_gates),
        ("gates on 3+ qubits", summary.multi_qubit_gates),
        ("measurements", summary.measurements),
        ("resets", summary.resets),
        ("mid-circuit measurement", "yes" if summary.mid_circuit_measurement else "no"),
        ("Clifford", "yes" if summary.clifford else f"no ({summary.non_clifford_gates} non-Clifford gates)"),
        ("parameterised gates", f"{summary.parameterized_gates} ({summary.parameters} parameters)"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def estimate_table(est: Estimate) -> Table:
    m = est.machine
    table = Table(
        title=(
            f"Estimate for {est.circuit}: {est.num_qubits} qubits, {est.operations} operations"
            f"{' (noisy)' if est.noisy else ''}, {est.shots} shots; memory usable now "
            f"{format_bytes(m.usable_bytes)} ({format_bytes(m.available_bytes)} available, {m.margin:.0%} kept free)"
        ),
        title_justify="left",
        caption=f"how: {est.method}",
        caption_justify="left",
    )
    for column in ("backend", "method", "memory", "time (rough)", "feasible here"):
        table.add_column(column)
    for row in est.backends:
        table.add_row(
            row.backend,
            row.method,
            format_bytes(row.memory_bytes),
            format_seconds(row.seconds),
            ("[green]yes[/]" if row.feasible else f"[red]no[/]: {row.reason}")
            + (f" [dim]({row.note})[/]" if row.note else ""),
        )
    return table


def error_text(code: str, message: str, hint: str | None) -> Text:
    text = Text.assemble(("error", "bold red"), f" [{code}]: ", message)
    if hint:
        text.append("\n  hint: ", style="bold").append(hint)
    return text


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 120  # piped output: wide lines are easier to read and grep than wrapped cells
    return console


def _when(timestamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _progress(record: Any) -> str:
    if not record.steps_total:
        return "-"
    return f"{record.steps_done}/{record.steps_total} ({100 * record.steps_done / record.steps_total:.0f} %)"


def jobs_table(records: list[Any]) -> Table:
    table = Table(title="Jobs", title_justify="left")
    for column in ("id", "state", "circuit", "backend", "progress", "time", "created"):
        table.add_column(column)
    for r in records:
        total = r.stages.get("total")
        table.add_row(
            r.id, r.state, r.circuit, r.backend or "-", _progress(r),
            format_seconds(total) if total is not None else "-", _when(r.created),
        )  # fmt: skip
    if not records:
        table.caption = "no jobs yet: `proxima run bell` starts one"
    return table


def job_status(record: Any, transitions: list[Any], checkpoints: list[Any], consent: list[Any]) -> Group:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("job", record.id)
    grid.add_row("circuit", f"{record.circuit} on {record.backend or '-'}")
    grid.add_row("state", record.state + (f" ({record.paused_by})" if record.state == "PAUSED" else ""))
    grid.add_row("progress", _progress(record))
    for stage, seconds in record.stages.get("stages", {}).items():
        grid.add_row(stage.lower(), format_seconds(seconds))
    if record.error:
        grid.add_row("error", f"{record.error['code']}: {record.error['message']}")
    if record.result_path:
        grid.add_row("result", record.result_path)
    parts: list[Any] = [grid]
    history = Table(title="Transitions", title_justify="left")
    for column in ("at", "from", "to", "reason"):
        history.add_column(column)
    for t in transitions:
        history.add_row(_when(t.at), t.old or "-", t.new, t.reason)
    parts.append(history)
    if checkpoints:
        saved = Table(title="Checkpoints", title_justify="left")
        for column in ("#", "step", "size", "reason", "at"):
            saved.add_column(column)
        for c in checkpoints:
            saved.add_row(
                str(c.number), f"{c.position}/{c.total}", format_bytes(c.bytes), c.reason, _when(c.created)
            )
        parts.append(saved)
    for decision in consent:
        parts.append(
            Text(
                f"consent: {decision['request']['title']} -> {decision['answer']['option']} "
                f"({decision['answered_by']})"
            )
        )
    return Group(*parts)
