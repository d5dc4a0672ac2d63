"""MCP resources: what is too large for a tool result, or worth reading on its own. The backends, a job's
status, a result (JSON, its counts as CSV, its arrays as .npy), and the circuit library as OpenQASM.

A resource only reads what the tools and the engine computed and stored, with the server's runtime (its
configuration and workspace); a failure is a JSON-RPC error that carries Proxima's code and hint (-32602 for
an unknown job, circuit or array, as `proxima_agent.mcp.errors` maps them).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError

from proxima_agent.errors import JobNotFoundError, ProximaError, quoted
from proxima_agent.mcp import errors
from proxima_agent.tools.context import Runtime, ToolContext

ARRAYS = ("probabilities", "statevector", "density_matrix")


def _reported(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Proxima's errors become JSON-RPC errors with the code and hint (before the SDK would hide them); a bug
    is logged with its traceback and reported without it."""

    @wraps(fn)
    async def read(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except MCPError:
            raise
        except ProximaError as exc:
            raise errors.protocol_error(exc) from None
        except Exception:
            raise errors.internal_protocol_error(f"the resource {fn.__name__}") from None

    return read


def _runtime(ctx: Context[Runtime, Any]) -> Runtime:
    return ctx.request_context.lifespan_context


def _job_id(job_id: str) -> str:
    """A job id from a URI, checked as the tools check one (INPUT_INVALID for one that cannot be a job's)."""
    from proxima_agent.tools.registry import get_tool

    get_tool("job_status").parse({"job_id": job_id})
    return job_id


async def _stored_result(ctx: Context[Runtime, Any], job_id: str) -> dict[str, Any]:
    job_id = _job_id(job_id)
    engine = await _runtime(ctx).engine()
    from proxima_agent.store.results import read_result

    return read_result(await engine.store.get_job(job_id))


def counts_csv(data: dict[str, Any]) -> str:
    """All outcomes, most frequent first: outcome, count, frequency, and the exact probability where known."""
    counts: dict[str, int] = data["counts"]
    given = data.get("probabilities")
    probs: dict[str, float] = given if isinstance(given, dict) else {}
    keys = sorted(set(counts) | set(probs), key=lambda k: (-counts.get(k, 0), -probs.get(k, 0.0), k))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["outcome", "count", "frequency", "probability"])
    for key in keys:
        writer.writerow([key, counts.get(key, 0), counts.get(key, 0) / data["shots"], probs.get(key, "")])
    return out.getvalue()


def array_npy(data: dict[str, Any], name: str, job_id: str) -> bytes:
    """A result's array as .npy bytes (from the file the engine wrote, or the inlined values)."""
    import numpy as np

    from proxima_agent.backends.result import SimulationResult

    array = getattr(SimulationResult.from_json_dict(data), name)
    if array is None:
        raise JobNotFoundError(
            f"the result of job {job_id} has no {name}",
            hint="run with return_state=true for the state, or on a backend with exact probabilities",
            job=job_id,
        )
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def register(server: MCPServer[Runtime], runtime: Runtime) -> list[str]:
    """Add the resources to SERVER, reading with RUNTIME (the one its tools use); returns their URIs."""

    @server.resource(
        "proxima://backends", name="backends", mime_type="application/json",
        description="The simulators: availability, version, method, noise kinds, qubits that fit here now",
    )  # fmt: skip
    @_reported
    async def backends() -> str:  # a static resource gets no context: the runtime is the server's
        from proxima_agent.tools.circuits import ListBackendsInput, list_backends

        listing = await list_backends(ListBackendsInput(), ToolContext(runtime))
        return listing.model_dump_json(indent=1)

    @server.resource(
        "proxima://circuits", name="circuits", mime_type="application/json",
        description="The named circuits of the library and their parameters",
    )  # fmt: skip
    @_reported
    async def circuits() -> str:
        from proxima_agent.circuits.library import LIBRARY

        return json.dumps(
            [{"usage": e.usage, "description": e.description} for e in LIBRARY.values()], indent=1
        )

    @server.resource(
        "proxima://circuits/{name}", name="circuit", mime_type="text/plain",
        description="A library circuit (e.g. ghz:8, qft:12, random:10:20:7) as OpenQASM 2",
    )  # fmt: skip
    @_reported
    async def circuit(name: str) -> str:
        from proxima_agent.circuits.library import build
        from proxima_agent.circuits.qasm import to_qasm

        return to_qasm(build(name), 2)

    @server.resource(
        "proxima://jobs/{job_id}", name="job", mime_type="application/json",
        description="A job: state, progress, stage times, transitions, checkpoints, consent decisions",
    )  # fmt: skip
    @_reported
    async def job(job_id: str, ctx: Context[Runtime, Any]) -> str:
        from proxima_agent.tools.jobs import JobInput, job_status

        status = await job_status(JobInput(job_id=_job_id(job_id)), ToolContext(_runtime(ctx)))
        return status.model_dump_json(indent=1)

    @server.resource(
        "proxima://results/{job_id}", name="result", mime_type="application/json",
        description="A completed job's whole result; large arrays are named with their size and linked",
    )  # fmt: skip
    @_reported
    async def result(job_id: str, ctx: Context[Runtime, Any]) -> str:
        return json.dumps(await _stored_result(ctx, job_id), indent=1)

    @server.resource(
        "proxima://results/{job_id}/counts.csv", name="result counts", mime_type="text/csv",
        description="All outcomes of a completed job: outcome, count, frequency, exact probability",
    )  # fmt: skip
    @_reported
    async def counts(job_id: str, ctx: Context[Runtime, Any]) -> str:
        return counts_csv(await _stored_result(ctx, job_id))

    @server.resource(
        "proxima://results/{job_id}/{array}.npy", name="result array", mime_type="application/octet-stream",
        description="A completed job's probabilities, statevector or density_matrix as a numpy .npy file",
    )  # fmt: skip
    @_reported
    async def array(job_id: str, array: str, ctx: Context[Runtime, Any]) -> bytes:
        if array not in ARRAYS:
            raise JobNotFoundError(f"no array {quoted(array)}", hint=f"arrays: {', '.join(ARRAYS)}")
        return array_npy(await _stored_result(ctx, job_id), array, job_id)

    return [
        "proxima://backends", "proxima://circuits", "proxima://circuits/{name}", "proxima://jobs/{job_id}",
        "proxima://results/{job_id}", "proxima://results/{job_id}/counts.csv",
        "proxima://results/{job_id}/{array}.npy",
    ]  # fmt: skip
