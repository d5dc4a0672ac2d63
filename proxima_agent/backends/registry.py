"""The backend registry: every backend Proxima knows, which are installed, and a one-circuit self test."""

from __future__ import annotations

import time

from pydantic import BaseModel

from proxima_agent.backends.aer_backend import AerDensityMatrix, AerStatevector
from proxima_agent.backends.base import Backend, BackendInfo, RunOptions
from proxima_agent.backends.cirq_backend import CirqDensityMatrix, CirqStatevector
from proxima_agent.backends.lret import LretBackend
from proxima_agent.errors import BackendUnavailableError, ProximaError, UnknownBackendError, quoted

_BACKENDS: dict[str, type[Backend]] = {
    cls.id: cls for cls in (CirqStatevector, CirqDensityMatrix, AerStatevector, AerDensityMatrix, LretBackend)
}


def backend_ids() -> list[str]:
    return list(_BACKENDS)


def get_backend(backend_id: str, *, require_available: bool = True) -> Backend:
    cls = _BACKENDS.get(backend_id.strip().lower())
    if cls is None:
        raise UnknownBackendError(
            f"unknown backend {quoted(backend_id)}",
            hint="available backends: " + ", ".join(i.id for i in list_backends() if i.available),
            backend=backend_id if len(backend_id) <= 64 else quoted(backend_id),
        )
    backend = cls()
    if require_available:
        info = backend.info()
        if not info.available:
            raise BackendUnavailableError(
                f"backend {backend_id} is not available: {info.reason}", hint=info.reason
            )
    return backend


def all_backends() -> list[Backend]:
    return [cls() for cls in _BACKENDS.values()]


def list_backends() -> list[BackendInfo]:
    return [b.info() for b in all_backends()]


class Health(BaseModel):
    id: str
    healthy: bool
    seconds: float
    detail: str


SELF_TEST_CIRCUIT = "bell"
SELF_TEST_OPTIONS = RunOptions(shots=1000, seed=1)


def self_test(backend_id: str) -> Health:
    """Run a Bell pair (1000 shots, seed 1) here and judge it (`judge_self_test`)."""
    from proxima_agent.circuits.library import build

    start = time.perf_counter()
    try:
        result = get_backend(backend_id).run(build(SELF_TEST_CIRCUIT), SELF_TEST_OPTIONS)
    except ProximaError as exc:
        return Health(id=backend_id, healthy=False, seconds=time.perf_counter() - start, detail=exc.message)
    except Exception as exc:  # a broken installation shows up here; report it, do not crash the listing
        return Health(id=backend_id, healthy=False, seconds=time.perf_counter() - start, detail=repr(exc))
    return judge_self_test(backend_id, result.counts, time.perf_counter() - start)


def judge_self_test(backend_id: str, counts: dict[str, int], seconds: float) -> Health:
    """Healthy if only 00 and 11 appear, each 40-60 % of the 1000 shots."""
    ok = set(counts) <= {"00", "11"} and all(400 <= counts.get(k, 0) <= 600 for k in ("00", "11"))
    return Health(
        id=backend_id, healthy=ok, seconds=seconds, detail=f"bell counts {dict(sorted(counts.items()))}"
    )
