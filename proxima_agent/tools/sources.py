"""Turning tool arguments into core objects: a circuit (text, library name or workspace file), a noise model
(short syntax, JSON object or workspace file) and run options, with the same errors the CLI gives."""

from __future__ import annotations

import json
from typing import Any

from proxima_agent.errors import FileReadError, OptionError, quoted
from proxima_agent.tools.context import Runtime


def load_circuit(runtime: Runtime, text: str) -> Any:
    """OpenQASM text or a library name as given; anything else is a file path, which must be in the workspace.
    OpenQASM includes resolve inside the workspace only (relative ones from the including file's folder, then
    from the workspace)."""
    from proxima_agent.circuits import library
    from proxima_agent.circuits.loading import load_circuit as load
    from proxima_agent.circuits.loading import load_file
    from proxima_agent.circuits.qasm import looks_like_qasm

    roots = [runtime.workspace]
    if looks_like_qasm(text) or library.is_library_name(text.strip()):
        return load(text, roots=roots)
    stripped = text.strip()
    looks_like_path = "/" in stripped or "\\" in stripped or "." in stripped
    if not looks_like_path:
        return load(stripped, roots=roots)  # an unknown library name: the error lists the library
    return load_file(_workspace_path(runtime, stripped), roots=roots)


def _workspace_path(runtime: Runtime, text: str) -> Any:
    from proxima_agent.circuits.limits import MAX_PATH_CHARS, shown

    if len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise FileReadError(
            f"{shown(text, 60)} is not a file path ({len(text):,} characters)",
            hint="give OpenQASM text (starting with OPENQASM 2.0; or 3.0;), a library name, or a workspace path",
        )
    return runtime.resolve_path(text)


def load_noise(runtime: Runtime, noise: str | dict[str, Any] | None) -> Any:
    from proxima_agent.circuits.noise import noise_from_json, parse_noise

    if noise is None:
        return parse_noise(None)
    if isinstance(noise, dict):
        return noise_from_json(json.dumps(noise))
    text = noise.strip()
    if text.endswith(".json") and not text.startswith("{"):
        return noise_from_json(str(_workspace_path(runtime, text)))
    return parse_noise(text)


def run_options(
    runtime: Runtime,
    *,
    shots: int | None,
    seed: int | None = None,
    noise: str | dict[str, Any] | None = None,
    observables: list[str] | None = None,
    backend_options: dict[str, Any] | None = None,
    return_state: bool = False,
) -> Any:
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.seeds import resolve_seed

    if seed is not None:
        resolve_seed(seed)  # validates the range
    for pauli in observables or []:
        if not pauli or set(pauli.upper()) - set("IXYZ"):
            raise OptionError(
                f"observable {quoted(pauli)} is not a Pauli string", hint="e.g. ZZI (qubit 0 is last)"
            )
    return RunOptions(
        shots=runtime.config.run.shots if shots is None else shots,
        seed=seed,
        noise=load_noise(runtime, noise),
        return_state=return_state,
        observables=tuple(observables or ()),
        backend_options=backend_options or {},
    )


def circuit_and_options(runtime: Runtime, circuit: str, **options: Any) -> tuple[Any, Any]:
    """The circuit and its run options, with the noise checked against the circuit (qubits it names exist)."""
    loaded = load_circuit(runtime, circuit)
    opts = run_options(runtime, **options)
    opts.noise.check(loaded)
    return loaded, opts
