"""Noise models as data: channels, rules that attach them to gates or qubits, the CLI's short syntax, JSON.

Conventions (every backend maps onto its native API with exactly these meanings, and tests pin them):
- depolarizing(p) on n qubits: rho -> (1 - p) rho + p I / 2^n (Qiskit's `depolarizing_error(p, n)`; Cirq's
  `depolarize` takes p * (4^n - 1) / 4^n). After an n-qubit gate it acts on all n of the gate's qubits.
- amplitude_damping(gamma), phase_damping(lambda), bit_flip(p), phase_flip(p), thermal relaxation (T1, T2,
  gate time; T2 <= 2 T1, ground-state relaxation) act on each qubit of the gate they follow.
- kraus(matrices) on k qubits follows gates of k qubits (or, for k = 1, acts on each qubit); matrices use the IR's
  convention: the first listed qubit is the most significant.
- readout(p01, p10): P(read 1 | qubit in 0) = p01, P(read 0 | qubit in 1) = p10, at every measurement.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from proxima_agent.circuits import limits
from proxima_agent.circuits.gates import GATES, MEASURE, PAULIS
from proxima_agent.circuits.ir import Circuit, Operation
from proxima_agent.circuits.limits import shown
from proxima_agent.errors import NoiseError, quoted

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def arity(self) -> int:
        """Qubits the channel acts on at once; 0 means as many as the gate it follows (depolarizing)."""
        return 1

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        raise NotImplementedError


class Depolarizing(_Channel):
    kind: Literal["depolarizing"] = "depolarizing"
    p: Probability

    @property
    def arity(self) -> int:
        return 0

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        d2 = 4**num_qubits
        ops = []
        for index, paulis in enumerate(itertools.product(PAULIS.values(), repeat=num_qubits)):
            weight = (1 - self.p + self.p / d2) if index == 0 else self.p / d2
            ops.append(math.sqrt(weight) * _kron(paulis))
        return ops


class AmplitudeDamping(_Channel):
    kind: Literal["amplitude_damping"] = "amplitude_damping"
    gamma: Probability

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        g = self.gamma
        return [
            np.array([[1, 0], [0, math.sqrt(1 - g)]], complex),
            np.array([[0, math.sqrt(g)], [0, 0]], complex),
        ]


class PhaseDamping(_Channel):
    kind: Literal["phase_damping"] = "phase_damping"
    lam: Probability = Field(description="lambda: off-diagonal elements shrink by sqrt(1 - lambda)")

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        lam = self.lam
        return [
            np.array([[1, 0], [0, math.sqrt(1 - lam)]], complex),
            np.array([[0, 0], [0, math.sqrt(lam)]], complex),
        ]


class BitFlip(_Channel):
    kind: Literal["bit_flip"] = "bit_flip"
    p: Probability

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        return [math.sqrt(1 - self.p) * PAULIS["I"], math.sqrt(self.p) * PAULIS["X"]]


class PhaseFlip(_Channel):
    kind: Literal["phase_flip"] = "phase_flip"
    p: Probability

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        return [math.sqrt(1 - self.p) * PAULIS["I"], math.sqrt(self.p) * PAULIS["Z"]]


class ThermalRelaxation(_Channel):
    kind: Literal["thermal_relaxation"] = "thermal_relaxation"
    t1: float = Field(gt=0, allow_inf_nan=False, description="T1 relaxation time")
    t2: float = Field(gt=0, allow_inf_nan=False, description="T2 dephasing time (<= 2 T1)")
    gate_time: float = Field(
        ge=0, allow_inf_nan=False, description="duration of the gate the channel follows, in T1's unit"
    )

    @model_validator(mode="after")
    def _physical(self) -> ThermalRelaxation:
        if self.t2 > 2 * self.t1:
            raise ValueError(f"T2={self.t2} exceeds 2*T1={2 * self.t1}, which no physical qubit allows")
        return self

    @property
    def gamma(self) -> float:
        return 1 - math.exp(-self.gate_time / self.t1)

    @property
    def lam(self) -> float:
        """The extra pure dephasing on top of amplitude damping that makes coherences decay as exp(-t/T2)."""
        return max(0.0, 1 - math.exp(-2 * self.gate_time / self.t2 + self.gate_time / self.t1))

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        damp = AmplitudeDamping(gamma=self.gamma).kraus()
        dephase = PhaseDamping(lam=self.lam).kraus()
        ops = [p @ a for p in dephase for a in damp]
        return [k for k in ops if np.abs(k).max() > 0]


class Kraus(_Channel):
    kind: Literal["kraus"] = "kraus"
    matrices: list[list[list[tuple[float, float]]]] = Field(
        description="Kraus operators; each entry [re, im] (a plain number is read as real); "
        "the first listed qubit is the most significant"
    )

    @field_validator("matrices", mode="before")
    @classmethod
    def _complex_pairs(cls, value: Any) -> Any:
        def pair(x: Any) -> Any:
            if isinstance(x, list | tuple):
                return x
            z = complex(x)
            return (z.real, z.imag)

        if isinstance(value, np.ndarray) or (
            isinstance(value, list) and value and isinstance(value[0], np.ndarray)
        ):
            value = [np.asarray(m).tolist() for m in value]
        return [[[pair(x) for x in row] for row in m] for m in value]

    @model_validator(mode="after")
    def _cptp(self) -> Kraus:
        mats = self.kraus()
        if not mats:
            raise ValueError("a Kraus channel needs at least one matrix")
        dim = mats[0].shape[0]
        if any(m.shape != (dim, dim) for m in mats) or dim < 2 or dim & (dim - 1):
            raise ValueError("Kraus matrices must all be square with the same side, a power of two")
        total = sum(m.conj().T @ m for m in mats)
        if not np.allclose(total, np.eye(dim), atol=1e-8):
            raise ValueError("Kraus matrices are not trace preserving: sum K^dagger K != I")
        return self

    @property
    def arity(self) -> int:
        return int(math.log2(len(self.matrices[0])))

    def kraus(self, num_qubits: int = 1) -> list[np.ndarray]:
        return [np.asarray(m, dtype=float) @ np.array([1, 1j]) for m in self.matrices]


class Readout(_Channel):
    kind: Literal["readout"] = "readout"
    p01: Probability = Field(description="P(read 1 | qubit in 0)")
    p10: Probability = Field(description="P(read 0 | qubit in 1)")

    @property
    def confusion(self) -> np.ndarray:
        """Row = true value, column = read value."""
        return np.array([[1 - self.p01, self.p01], [self.p10, 1 - self.p10]])


Channel = Annotated[
    Depolarizing
    | AmplitudeDamping
    | PhaseDamping
    | BitFlip
    | PhaseFlip
    | ThermalRelaxation
    | Kraus
    | Readout,
    Field(discriminator="kind"),
]


def _kron(mats: tuple[np.ndarray, ...]) -> np.ndarray:
    out = np.array([[1]], dtype=complex)
    for m in mats:
        out = np.kron(out, m)
    return out


class NoiseRule(BaseModel):
    """Attach a channel after gates (all, or those named) on qubits (all, or those listed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    gates: tuple[str, ...] | None = Field(None, description="gate names; None means every gate")
    qubits: tuple[int, ...] | None = Field(None, description="qubits; None means every qubit")

    @field_validator("gates")
    @classmethod
    def _known_gates(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("an empty list of gates would apply the channel nowhere")
            unknown = [g for g in value if g not in GATES]
            if unknown:
                more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
                raise ValueError(
                    f"unknown gate(s) {[shown(g, 30) for g in unknown[:3]]}{more}; gates are: {', '.join(GATES)}"
                )
        return value

    @field_validator("qubits")
    @classmethod
    def _distinct_qubits(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("an empty list of qubits would apply the channel nowhere")
            if any(q < 0 for q in value):
                raise ValueError("qubits are numbered from 0")
            if len(set(value)) != len(value):
                counts = Counter(value)
                repeated = sorted(q for q, count in counts.items() if count > 1)[:5]
                raise ValueError(f"qubit(s) {repeated} are listed more than once")
        return value

    def matches(self, operation: Operation) -> bool:
        return self.gates is None or operation.name in self.gates

    def targets(self, operation: Operation) -> list[tuple[int, ...]]:
        """The qubit groups this rule's channel acts on after `operation`."""
        allowed = set(self.qubits) if self.qubits is not None else None
        arity = self.channel.arity
        if arity == 0 or (arity == len(operation.qubits) and arity > 1):
            whole = operation.qubits
            return [whole] if allowed is None or allowed.issuperset(whole) else []
        if arity == 1:
            return [(q,) for q in operation.qubits if allowed is None or q in allowed]
        return []  # a k-qubit Kraus channel after a gate of another arity does not apply


class NoiseOp(BaseModel):
    """A channel applied to specific qubits: what backends receive in the noisy operation stream."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    qubits: tuple[int, ...]


class NoiseModel(BaseModel):
    """A list of rules; an empty model is the noiseless case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[NoiseRule, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.rules

    @property
    def has_gate_noise(self) -> bool:
        """Channels after gates (readout error alone leaves the quantum state exact)."""
        return bool(self._gate_rules)

    @property
    def kinds(self) -> set[str]:
        return {rule.channel.kind for rule in self.rules}

    @cached_property
    def _gate_rules(self) -> tuple[NoiseRule, ...]:
        return tuple(r for r in self.rules if r.channel.kind != "readout")

    def check(self, circuit: Circuit) -> None:
        for rule in self.rules:
            bad = [q for q in rule.qubits or () if not 0 <= q < circuit.num_qubits]
            if bad:
                more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
                raise NoiseError(
                    f"noise rule for {rule.channel.kind} names qubit(s) {bad[:5]}{more}, "
                    f"but the circuit has {circuit.num_qubits} qubits",
                    hint=f"use qubits 0..{circuit.num_qubits - 1}",
                )

    def after(self, operation: Operation) -> list[NoiseOp]:
        """Channels to apply right after a gate."""
        if not operation.is_gate:
            return []
        return [
            NoiseOp(channel=rule.channel, qubits=qubits)
            for rule in self._gate_rules
            if rule.matches(operation)
            for qubits in rule.targets(operation)
        ]

    def readout(self, qubit: int) -> np.ndarray | None:
        """The combined confusion matrix (rows: true, columns: read) for measurements of `qubit`, or None."""
        confusion = None
        for rule in self.rules:
            if isinstance(rule.channel, Readout) and (rule.qubits is None or qubit in rule.qubits):
                m = rule.channel.confusion
                confusion = m if confusion is None else confusion @ m
        return confusion

    def stream(self, circuit: Circuit) -> list[Operation | NoiseOp]:
        """The circuit's operations with the model's channels inserted after each gate."""
        self.check(circuit)
        out: list[Operation | NoiseOp] = []
        for operation in circuit.operations:
            out.append(operation)
            out.extend(self.after(operation))
        return out

    def noisy_locations(self, circuit: Circuit) -> int:
        return sum(len(self.after(o)) for o in circuit.operations) + sum(
            1 for o in circuit.operations if o.name == MEASURE and self.readout(o.qubits[0]) is not None
        )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# --- the CLI's short syntax -----------------------------------------------------------------------------------

_ALIASES = {
    "depolarizing": "depolarizing", "depolarising": "depolarizing", "depol": "depolarizing",
    "amplitude_damping": "amplitude_damping", "amp_damp": "amplitude_damping",
    "phase_damping": "phase_damping", "dephasing": "phase_damping",
    "bit_flip": "bit_flip", "phase_flip": "phase_flip",
    "thermal": "thermal_relaxation", "thermal_relaxation": "thermal_relaxation",
    "readout": "readout",
}  # fmt: skip
_ARGS = {
    "depolarizing": ("p",), "amplitude_damping": ("gamma",), "phase_damping": ("lam",), "bit_flip": ("p",),
    "phase_flip": ("p",), "thermal_relaxation": ("t1", "t2", "gate_time"), "readout": ("p01", "p10"),
}  # fmt: skip
SHORT_SYNTAX = (
    "KIND:ARGS[@GATE,GATE][/QUBIT,QUBIT], several joined by ';'. Kinds: depolarizing:P, amplitude_damping:GAMMA, "
    "phase_damping:LAMBDA, bit_flip:P, phase_flip:P, thermal:T1:T2:GATE_TIME, readout:P01[:P10]; "
    "general Kraus channels in the JSON form (a file)"
)


def _parse_one(spec: str) -> NoiseRule:
    text = spec.strip()
    qubits: tuple[int, ...] | None = None
    gates: tuple[str, ...] | None = None
    if "/" in text:
        text, raw_qubits = text.split("/", 1)
        try:
            qubits = tuple(int(q) for q in raw_qubits.split(","))
        except ValueError:
            raise NoiseError(
                f"noise {quoted(spec)}: qubits must be integers", hint="e.g. depolarizing:0.01/0,1"
            ) from None
    if "@" in text:
        text, raw_gates = text.split("@", 1)
        gates = tuple(g.strip().lower() for g in raw_gates.split(",") if g.strip())
    kind_raw, *args = text.split(":")
    kind = _ALIASES.get(kind_raw.strip().lower().replace("-", "_"))
    if kind is None:
        raise NoiseError(f"unknown noise kind {quoted(kind_raw)}", hint=SHORT_SYNTAX)
    names = _ARGS[kind]
    if kind == "readout" and len(args) == 1:
        args = args * 2  # symmetric readout error
    if len(args) != len(names):
        raise NoiseError(f"noise {quoted(spec)}: {kind} takes {':'.join(names).upper()}", hint=SHORT_SYNTAX)
    try:
        values = {name: float(a) for name, a in zip(names, args, strict=True)}
    except ValueError:
        raise NoiseError(f"noise {quoted(spec)}: parameters must be numbers", hint=SHORT_SYNTAX) from None
    return _validated_rule({"channel": {"kind": kind, **values}, "gates": gates, "qubits": qubits}, spec)


def _validated_rule(data: dict[str, Any], where: str) -> NoiseRule:
    try:
        return NoiseRule.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = shown(".".join(str(p) for p in first["loc"]), 80)
        hint = (
            "probabilities must lie in [0, 1]"
            if "less than or equal" in first["msg"] or ("greater than or equal" in first["msg"])
            else SHORT_SYNTAX
        )
        raise NoiseError(f"noise {quoted(where)}: {field}: {shown(first['msg'], 300)}", hint=hint) from None


def parse_noise(spec: str | None) -> NoiseModel:
    """Parse `--noise`: the short syntax, JSON text, or a path to a JSON file. None or '' is noiseless."""
    if not spec or not spec.strip():
        return NoiseModel()
    text = spec.strip()
    if text.startswith("{") or text.endswith(".json"):
        return noise_from_json(text)
    rules = tuple(_parse_one(part) for part in text.split(";") if part.strip())
    if not rules:  # ';;;' is a mistake, not a way to say "no noise"
        raise NoiseError(f"noise {quoted(spec)} names no channel", hint=SHORT_SYNTAX)
    return NoiseModel(rules=rules)


def noise_from_json(text_or_path: str) -> NoiseModel:
    """The JSON form: {"rules": [{"channel": {"kind": ..., ...}, "gates": [...], "qubits": [...]}, ...]}."""
    text = text_or_path
    if not text.lstrip().startswith("{"):
        from proxima_agent.errors import FileReadError

        path = Path(text_or_path).expanduser()
        try:
            text = limits.read_text(path, what="noise model file", too_big=FileReadError)
        except FileReadError as exc:
            raise FileReadError(
                f"cannot read noise model: {exc.message}", hint=exc.hint_template or "check the path"
            ) from None
    if len(text) > limits.MAX_CIRCUIT_CHARS:
        raise NoiseError(
            f"noise model is {len(text):,} characters, over the limit of {limits.MAX_CIRCUIT_CHARS:,}",
            hint=f"give a smaller model; {limits.LIMITS_HINT}",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NoiseError(
            f"noise model is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint='expected {"rules": [{"channel": {"kind": "depolarizing", "p": 0.01}}]}',
        ) from exc
    except RecursionError:
        raise NoiseError(
            "noise model JSON is nested too deeply", hint='expected {"rules": [{"channel": {...}}]}'
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise NoiseError("noise model JSON needs a list under 'rules'", hint=SHORT_SYNTAX)
    return NoiseModel(
        rules=tuple(_validated_rule(rule, f"rules[{i}]") for i, rule in enumerate(data["rules"]))
    )
