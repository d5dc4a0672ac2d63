"""The one result model every backend returns, and the helpers that turn states into outcome distributions.

Bit order: classical bit 0 (and qubit 0) is the rightmost character of a bitstring. Statevectors and density
matrices use the same little-endian convention as Qiskit: index bit i is qubit i.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Method = Literal["statevector", "density_matrix", "trajectories", "low_rank"]


class Timing(BaseModel):
    model_config = ConfigDict(frozen=True)

    conversion_s: float = Field(description="IR -> library circuit, noise included")
    simulation_s: float = Field(description="the library's simulation and sampling")
    total_s: float


class MemoryUse(BaseModel):
    model_config = ConfigDict(frozen=True)

    peak_rss_bytes: int = Field(description="peak resident set size of the process during the run")
    peak_increase_bytes: int = Field(description="peak RSS minus the RSS just before the run")
    method: str = Field("sampled RSS (psutil) every 5 ms", description="how the figures were measured")


class Progress(BaseModel):
    """A progress report: `done` of `total` units (total None when unknown)."""

    model_config = ConfigDict(frozen=True)

    stage: str
    done: int = 0
    total: int | None = None
    unit: str = "steps"


class SimulationResult(BaseModel):
    """What a run produced. Arrays live in memory; `to_json_dict` inlines small ones and files large ones."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    backend: str
    method: Method
    circuit: str
    num_qubits: int
    num_clbits: int
    shots: int
    seed: int
    counts: dict[str, int]
    exact: bool = Field(description="probabilities / state are exact (not sampled trajectories)")
    probabilities: np.ndarray | None = Field(
        None, description="P(outcome) over clbit strings, index = int(bits, 2)"
    )
    statevector: np.ndarray | None = None
    density_matrix: np.ndarray | None = None
    timing: Timing
    memory: MemoryUse | None = None
    expectations: dict[str, float] = Field(default_factory=dict, description="exact <P> per Pauli string")
    versions: dict[str, str] = Field(default_factory=dict)
    noise: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def top_outcomes(self, k: int = 10) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def probability_dict(self, cutoff: float = 1e-12) -> dict[str, float]:
        if self.probabilities is None:
            return {}
        nz = np.flatnonzero(self.probabilities > cutoff)
        return {format(int(i), f"0{self.num_clbits}b"): float(self.probabilities[i]) for i in nz}

    def to_json_dict(self, *, inline_limit: int = 4096, array_dir: Path | None = None) -> dict[str, Any]:
        """JSON-ready dict. Arrays with more than `inline_limit` entries go to .npy files in `array_dir`."""
        data = self.model_dump(exclude={"probabilities", "statevector", "density_matrix"})
        arrays = {"statevector": self.statevector, "density_matrix": self.density_matrix}
        if self.probabilities is not None:
            if self.probabilities.size <= inline_limit:
                data["probabilities"] = self.probability_dict()
            else:
                arrays["probabilities"] = self.probabilities
        for name, array in arrays.items():
            if array is not None:
                data[name] = array_to_json(array, name, inline_limit=inline_limit, array_dir=array_dir)
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> SimulationResult:
        """The inverse of `to_json_dict`: arrays from their inlined values or their .npy files (an omitted
        array is left out). Keys `to_json_dict` did not write (a caller's extras) are ignored."""
        fields = {k: v for k, v in data.items() if k in cls.model_fields}
        probs = data.get("probabilities")
        if isinstance(probs, dict) and "shape" not in probs:  # inlined as {bits: p}, zeros left out
            array = np.zeros(2 ** data["num_clbits"])
            for bits, p in probs.items():
                array[int(bits, 2)] = p
            fields["probabilities"] = array
        for name in ("probabilities", "statevector", "density_matrix"):
            info = fields.get(name)
            if isinstance(info, dict):
                fields[name] = array_from_json(info)
        return cls.model_validate(fields)


def array_from_json(info: dict[str, Any]) -> np.ndarray | None:
    if "path" in info:
        return np.load(info["path"], allow_pickle=False)
    if "real" in info:
        return (np.asarray(info["real"]) + 1j * np.asarray(info["imag"])).astype(info.get("dtype", complex))
    if "values" in info:
        return np.asarray(info["values"], dtype=info.get("dtype"))
    return None  # omitted: too large to inline and no folder was given


def array_to_json(
    array: np.ndarray, name: str, *, inline_limit: int, array_dir: Path | None
) -> dict[str, Any]:
    info: dict[str, Any] = {"shape": list(array.shape), "dtype": str(array.dtype), "bytes": int(array.nbytes)}
    if array.size <= inline_limit:
        if np.iscomplexobj(array):
            info["real"], info["imag"] = array.real.tolist(), array.imag.tolist()
        else:
            info["values"] = array.tolist()
        return info
    if array_dir is None:
        info["omitted"] = f"{array.size} entries exceed the inline limit of {inline_limit}"
        return info
    array_dir.mkdir(parents=True, exist_ok=True)
    path = array_dir / f"{name}.npy"
    tmp = path.with_suffix(".npy.part")
    with tmp.open("wb") as handle:
        np.save(handle, array)
    tmp.replace(path)
    info["path"] = str(path)
    return info


def qubit_probabilities_from_state(state: np.ndarray, density: bool) -> np.ndarray:
    if density:
        return np.clip(np.real(np.diagonal(state)), 0, None)
    return np.abs(state) ** 2


def outcome_probabilities(
    qubit_probs: np.ndarray,
    measurements: list[tuple[int, int]],
    num_qubits: int,
    num_clbits: int,
    confusion: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """P(clbit string) from P(qubit basis state), given terminal (qubit, clbit) measurements.

    Each measured qubit's value goes to its clbit (the last write to a clbit wins); readout confusion (rows:
    true, columns: read) applies per measured qubit; unmeasured clbits read 0.
    """
    tensor = qubit_probs.reshape([2] * num_qubits)  # axis a is qubit num_qubits-1-a (little-endian index)
    source = {clbit: qubit for qubit, clbit in measurements}
    for qubit in set(source.values()):
        if confusion and qubit in confusion:
            axis = num_qubits - 1 - qubit
            tensor = np.moveaxis(np.tensordot(tensor, confusion[qubit], axes=([axis], [0])), -1, axis)
    letters = [chr(ord("a") + i) if i < 26 else chr(ord("A") + i - 26) for i in range(num_qubits)]
    subscripts_in = "".join(letters[num_qubits - 1 - a] for a in range(num_qubits))
    written = sorted(source, reverse=True)  # out's axes run from the highest clbit down
    subscripts_out = "".join(letters[source[c]] for c in written)
    marginal = np.einsum(f"{subscripts_in}->{subscripts_out}", tensor)
    out = np.zeros([2] * num_clbits)
    out[tuple(slice(None) if c in source else 0 for c in reversed(range(num_clbits)))] = marginal
    return out.reshape(-1)


def sample_counts(
    probabilities: np.ndarray, shots: int, rng: np.random.Generator, num_clbits: int
) -> dict[str, int]:
    """Draw `shots` outcomes from an exact distribution (renormalised only against float rounding)."""
    p = np.clip(probabilities, 0, None)
    p = p / p.sum()
    draws = rng.multinomial(shots, p)
    nz = np.flatnonzero(draws)
    return {format(int(i), f"0{num_clbits}b"): int(draws[i]) for i in nz}
