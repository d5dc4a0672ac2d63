"""The offline model's brain: a deterministic planner that turns a plain request into the same typed tool calls an
LLM would make, or declines with what it understood and what to do instead. Pure code: no LLM, no network, no
numerical library; the same request and memory always give the same plan.

`plan(request, memory)` returns either a `Plan` (tool steps, or a `direct_answer` when no tool is needed) or a
`Decline`. A step may take a value from an earlier step's structured output through a `Ref` placed among its
arguments; `resolve_refs` is how the caller fills them in before the call.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from proxima_agent.errors import InputError

# What the planner assumes when the memory does not say (tests keep these in step with the registries).
DEFAULT_BACKENDS = ("cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret")
DEFAULT_CIRCUITS = (
    "bell",
    "ghz:N",
    "qft:N[:X]",
    "random:N:DEPTH[:SEED]",
    "grover:N[:MARKED]",
    "w:N",
    "qaoa:N:P[:SEED]",
)
MAX_SHOTS = 10_000_000  # ShotsArg's bound
LLM_HINT = (
    "configure an LLM for free-form requests: `--model provider:name` (e.g. `anthropic:claude-sonnet-4-5`, "
    "`ollama:qwen3:8b`) or `agent.model` in proxima.json"
)

Intent = Literal[
    "run", "run_interpret", "noise_cost", "compare", "select", "estimate", "describe", "job", "checkpoint",
    "interpret", "list_backends", "list_jobs", "list_circuits", "help",
]  # fmt: skip


# --- the plan's shapes ------------------------------------------------------------------------------------------


class Ref(BaseModel):
    """A value taken from an earlier step's structured output (the dict its output model dumps): `field` is a key,
    or a dotted path into nested dicts and lists (`result.backend`, `jobs.0.job_id`). In JSON a Ref is written
    `{"$ref": {"step": 0, "field": "job_id"}}`, and read back from that shape."""

    model_config = ConfigDict(frozen=True)

    step: int = Field(ge=0)
    field: str = Field(min_length=1)

    @model_serializer
    def _as_json(self) -> dict[str, Any]:
        return {"$ref": {"step": self.step, "field": self.field}}


def _read_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$ref"} and isinstance(value["$ref"], dict):
            return Ref.model_validate(value["$ref"])
        return {k: _read_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_read_refs(v) for v in value]
    return value


class Step(BaseModel):
    """One tool call: the tool's registry name, its arguments (Refs allowed as values, also inside lists) and why."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    why: str

    @field_validator("args", mode="before")
    @classmethod
    def _refs(cls, value: Any) -> Any:
        return _read_refs(value)


class Plan(BaseModel):
    """What to do: the steps in order (each after the previous one succeeded), or, with no steps, the answer itself
    (`direct_answer`: help, the circuit library). `intent` names the kind of request (the answer's template)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["plan"] = "plan"
    intent: Intent
    understood: str = Field(description="the request restated in one line")
    steps: list[Step] = Field(default_factory=list)
    direct_answer: str | None = None


class Decline(BaseModel):
    """A request beyond what the planner can do (or missing what it needs): what it understood, what it cannot
    do, and what the person can say or configure instead."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["decline"] = "decline"
    understood: str
    cannot: str
    suggestions: list[str]


class PlannerMemory(BaseModel):
    """What the conversation so far gives the planner."""

    last_job_id: str | None = None
    last_circuit: str | None = None
    last_backend: str | None = None
    known_circuits: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CIRCUITS),
        description="the library's names or usages (ghz or ghz:N); empty means the defaults",
    )
    backends: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BACKENDS), description="backend ids available here"
    )


def is_tool_error(output: Mapping[str, Any]) -> bool:
    """A step's output that is the tool's refusal, `{"error": {"code", "message", "hint"}}`: not a result that
    reports an error among its fields (a FAILED job's view has `error` next to `job_id` and `state`)."""
    return set(output) == {"error"} and isinstance(output["error"], Mapping)


def resolve_refs(args: Mapping[str, Any], outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """ARGS with every Ref replaced by the value it points at in OUTPUTS (one dict per earlier step)."""

    def value(ref: Ref) -> Any:
        if ref.step >= len(outputs) or is_tool_error(outputs[ref.step]):
            raise InputError(
                f"step {ref.step} has no output to take {ref.field} from",
                hint="run the steps in order and stop at the first that fails",
            )
        current: Any = outputs[ref.step]
        for part in ref.field.split("."):
            if isinstance(current, Mapping) and part in current:
                current = current[part]
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                raise InputError(
                    f"step {ref.step}'s output has no {ref.field}",
                    hint="its keys: " + ", ".join(map(str, outputs[ref.step])),
                )
        return current

    def walk(item: Any) -> Any:
        if isinstance(item, Ref):
            return value(item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return {k: walk(v) for k, v in args.items()}


# --- reading the request ------------------------------------------------------------------------------------------

_TYPOS = {
    "simualte": "simulate", "similate": "simulate", "simlate": "simulate", "simulte": "simulate",
    "sim": "simulate", "excute": "execute", "exicute": "execute", "exectue": "execute", "rn": "run",
    "comapre": "compare", "compair": "compare", "compre": "compare", "compere": "compare", "vs": "versus",
    "pasue": "pause", "puase": "pause", "paus": "pause", "abrot": "abort", "aboart": "abort",
    "resme": "resume", "reume": "resume", "staus": "status", "statsu": "status", "stauts": "status",
    "shtos": "shots", "shot": "shots", "qbits": "qubits", "qubtis": "qubits", "qubit": "qubits",
    "qbit": "qubits", "dampening": "damping", "depolarising": "depolarizing", "depolarisation": "depolarizing",
    "depolarization": "depolarizing", "depolarize": "depolarizing", "depolarized": "depolarizing",
    "backedn": "backend", "bakend": "backend", "memroy": "memory", "meory": "memory", "expain": "explain",
    "analyse": "analyze", "circiut": "circuit", "cicuit": "circuit", "circut": "circuit", "circuts": "circuits",
    "decribe": "describe", "descibe": "describe", "estimte": "estimate", "estmate": "estimate",
}  # fmt: skip
_KEYWORDS = (
    "simulate", "simulator", "simulators", "execute", "compare", "comparison", "describe", "estimate",
    "backend", "backends", "depolarizing", "amplitude", "damping", "readout", "dephasing", "resume", "checkpoint",
    "interpret", "explain", "circuit", "circuits", "qubits", "memory", "status", "fidelity", "noiseless",
    "without", "rollback", "continue", "cancel", "analyze", "versus", "against", "benchmark", "recommend",
    "measurement", "thermal", "relaxation", "probability", "probabilities", "suspend", "available",
    "snapshot", "resources", "feasible", "density", "statevector", "percent",
)  # fmt: skip

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen twenty",
        )
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "a": 1}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_UNIT = r"(?=\s*-?\s*(?:qubits|shots|percent|layers|samples|%))"

_NUM = r"(\d+(?:\.\d+)?(?:e-?\d+)?|\.\d+)"
_PCT = r"\s*(%|percent|per\s?cent)?"

_NOISE_KINDS = (
    ("amplitude_damping", r"amplitude[\s_-]*damping|amp[\s_-]*damp(?:ing)?|amplitude[\s_-]*decay"),
    ("phase_damping", r"phase[\s_-]*damping|dephasing"),
    ("depolarizing", r"depolarizing|depol"),
    ("bit_flip", r"bit[\s_-]*flips?"),
    ("phase_flip", r"phase[\s_-]*flips?"),
    ("readout", r"read[\s_-]*out(?:[\s_-]*errors?)?|measurement[\s_-]*errors?"),
)
_NOISE_FILLER = (
    r"(?:[\s=:~]|\b(?:noise|errors?|channels?|rate|probability|prob|strength|level|parameter|p|gamma|lambda|"
    r"lam|of|with|at|is|set|to|a|an|the|about|around|approximately|roughly)\b)*"
)
_LITERAL_NOISE = (
    r"\b(?:depolarizing|depolarising|depol|amplitude_damping|amp_damp|phase_damping|dephasing|bit_flip|"
    r"phase_flip|thermal|thermal_relaxation|readout)(?::[\d.e-]+)+(?:@[a-z0-9,]+)?(?:/[\d,]+)?"
)
_GATE_NAMES = r"(?:cx|cz|cnot|h|x|y|z|rx|ry|rz|swap|ccx|cp|s|t|sx)"

_FOREIGN_BACKENDS = (
    "stim", "qsim", "qsimcirq", "aer-mps", "mps", "qulacs", "pennylane", "braket", "cuquantum", "cusv",
    "cudaq", "ibm", "ionq", "rigetti", "quantinuum", "qpu", "tensor network",
)  # fmt: skip
_BACKEND_ALIASES = (
    ("cirq-sv", r"\bcirq[\s_-]*(?:sv|state[\s_-]*vector)\b"),
    ("cirq-dm", r"\bcirq[\s_-]*(?:dm|density[\s_-]*matri(?:x|ces))\b"),
    ("aer-sv", r"\b(?:qiskit[\s_-]*)?aer[\s_-]*(?:sv|state[\s_-]*vector)\b"),
    ("aer-dm", r"\b(?:qiskit[\s_-]*)?aer[\s_-]*(?:dm|density[\s_-]*matri(?:x|ces))\b"),
    ("lret", r"\blret\b|\blow[\s_-]*rank\b"),
)
_FAMILIES = (
    ("cirq", r"(?<![\w-])cirq(?![\w-])"),
    ("aer", r"(?<![\w-])(?:qiskit(?:[\s_-]*aer)?|aer)(?![\w-])"),
)

_BEYOND = (
    r"\bpoems?\b|\bvqe\b|\bansatz\b|\boptimi[sz](?:e|ing|ation)\b|\btranspil\w*|\btrain(?:ing)?\b|\bjokes?\b|"
    r"\bwrite (?:me )?(?:a|an|some)\b|\bemails?\b|\bweather\b|\bprove\b|\bderive\b|\btranslate\b|\bstory\b|"
    r"\breal (?:quantum )?(?:device|computer|machine)\b|\bhardware\b|\bchemistry\b|\bmolecule"
)
_GPU = r"\bgpus?\b|\bcuda\b"

# (intent, pattern): the earliest match decides, ties in this order; some are adjusted afterwards.
_INTENTS: tuple[tuple[str, str], ...] = (
    ("help", r"^\W*(?:help|\?+|usage|commands)\W*$|\bhelp\b(?!\s+me\b)|what can you do|what do you (?:do|understand)|how do i use you"),
    ("list_circuits", r"\b(?:list|show|which|what)\b(?:\s+\w+){0,3}?\s+circuits\b|\bcircuit library\b|\bavailable circuits\b|\bcircuits (?:are )?(?:there|available)\b"),
    ("list_jobs", r"\b(?:list|show)\b(?:\s+\w+){0,3}?\s+jobs\b|\b(?:my|all|recent|running|paused|failed|completed|previous|past|last \d+)\s+jobs\b|\bjob history\b|\bwhat jobs\b|\bjobs (?:are )?(?:running|there)\b"),
    ("list_backends", r"\b(?:list|show)\b(?:\s+\w+){0,3}?\s+(?:backends|simulators)\b|\b(?:what|which)\s+(?:backends|simulators)\b|\b(?:backends|simulators) (?:are )?(?:there|available|installed)\b|\bavailable (?:backends|simulators)\b|\bself[\s-]?tests?\b"),
    ("select", r"\b(?:which|what)\s+(?:backend|simulator)\b|\bbest\s+(?:backend|simulator)\b|\b(?:recommend|choose|pick|suggest|select)\b(?:\s+\w+){0,2}?\s+(?:backend|simulator)\b"),
    ("rollback", r"\broll(?:ed|ing)?[\s-]?back\b|\brevert\b|\bgo back\b|\brestore\b"),
    ("checkpoint", r"\bcheckpoint\b|\bsnapshot\b"),
    ("pause", r"\bpause\b|\bfreeze\b|\bsuspend\b"),
    ("resume", r"\bresume\b|\bcontinue\b|\bunpause\b|\bunfreeze\b"),
    ("abort", r"\babort\b|\bcancel\b|\bkill\b|\bstop\b|\bterminate\b"),
    ("wait", r"\bwait (?:for|on|until)\b"),
    ("status", r"\bstatus\b|\bprogress\b|\bhow(?:'s| is) (?:the |my )?(?:last )?job\b|\bis (?:it|the job|the last job|job) (?:done|finished|complete|running)\b|\bcheck on\b|\bstate of\b"),
    ("interpret", r"\binterpret\w*|\bexplain\b|\banalyze\b|\bwhat does (?:the|this|that|my) result|\bmeaning of\b|\bmake sense of\b"),
    ("compare", r"\bcompare\b|\bcomparison\b|\bversus\b|\bbenchmark\b|\bhead[\s-]to[\s-]head\b|\b(?:faster|slower|quicker)\b"),
    ("estimate", r"\bfits?\b|\bmemory\b|\bram\b|\bhow long\b|\bhow much time\b|\bestimate\b|\bresources?\b|\bfeasible\b|\bhow big\b|\bhow expensive\b"),
    ("describe", r"\bdescribe\b|\bdescription\b|\bshow (?:me )?(?:the )?circuit\b|\blook like\b|\bgate counts?\b|\bdepth of\b|\bdraw\b|\b(?:open)?qasm\s*[23]?\b|\bsummar(?:y|ize|ise)\b|\bdetails of\b|\btell me about\b|\bwhat(?:'s| is) in\b"),
    ("run", r"\brun\b|\bsimulate\b|\bexecute\b|\bsample\b|\bsimulation of\b"),
)  # fmt: skip
_NOISE_COST = (
    r"noise\s+costs?|costs? of (?:the )?noise|costs? in fidelity|\bwith and without noise\b|\bwithout and with noise\b|"
    r"\bnoisy (?:vs\.?|versus|and|against) (?:noiseless|noise-free|ideal|clean)\b|"
    r"\b(?:noiseless|noise-free|ideal|clean) (?:vs\.?|versus|and|against) noisy\b|\b(?:effect|impact) of (?:the )?noise\b|"
    r"\bhow much (?:does |did |will )?(?:the )?noise\b|\bfidelity\b"
)
_NOISELESS = (
    r"\b(?:without|no|zero|free of|ignoring|ignore)\s+(?:any\s+|the\s+)?noise\b|\bnoise[\s-]*(?:free|less)\b"
)
# Words a bare circuit may come with ("ghz 12 on aer-sv please"): anything else and the planner declines.
_FILLER = frozenset(
    re.findall(
        r"\w+",
        "please pls a an the on with and using use for me can could would you i want to of in circuit state "
        "qubits now just quick quickly it that this",
    )
)
_EXAMPLES = (
    "run ghz:5 on aer-sv with 1000 shots",
    "compare aer-sv and cirq-sv on qft:8 with 1% depolarizing noise",
    "will qft:26 fit in memory?",
)
_JOB_STATES = {"running": "EXECUTING", "executing": "EXECUTING", "paused": "PAUSED", "completed": "COMPLETED",
               "finished": "COMPLETED", "failed": "FAILED", "aborted": "ABORTED", "interrupted": "INTERRUPTED"}  # fmt: skip


@dataclass
class _Request:
    """The request as read: the text left to interpret (lower case, recognised spans blanked) and what was found."""

    text: str
    original: str
    circuits: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    file: str | None = None
    noise_file: str | None = None
    backends: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    shots: int | None = None
    bad_shots: str | None = None
    seed: int | None = None
    noise: list[str] = field(default_factory=list)
    noise_unsized: list[str] = field(default_factory=list)

    def blank(self, match: re.Match[str], group: int = 0) -> None:
        start, end = match.span(group)
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]

    def find(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.text)

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.text) is not None


def _blank_original(original: str, spans: list[tuple[int, int]]) -> str:
    out = original
    for start, end in spans:
        out = out[:start] + " " * (end - start) + out[end:]
    return out


def _take_verbatim(request: str) -> tuple[str, dict[str, Any]]:
    """What must keep its case and spelling: OpenQASM text, file paths, job ids. Returns the rest and those."""
    found: dict[str, Any] = {"circuits": [], "job_ids": [], "file": None, "noise_file": None}
    spans: list[tuple[int, int]] = []
    fence = re.search(r"```[a-zA-Z0-9]*\n(.*?)```", request, re.S)
    qasm = re.search(r"OPENQASM\s+[23](?:\.\d+)?\s*;", request, re.I)
    if fence and re.search(r"OPENQASM", fence.group(1), re.I):
        found["circuits"].append(fence.group(1).strip())
        spans.append(fence.span())
    elif qasm:
        end = max(request.rfind(";"), request.rfind("}")) + 1
        found["circuits"].append(request[qasm.start() : end].strip())
        spans.append((qasm.start(), end))
    rest = _blank_original(request, spans)
    for m in re.finditer(r"(?<![\w/.~-])([\w./~\\-]+\.(?:qasm[23]?|csv|xlsx|json))\b", rest, re.I):
        path = m.group(1)
        if path.lower().endswith((".qasm", ".qasm2", ".qasm3")):
            found["circuits"].append(path)
        elif path.lower().endswith(".json") and re.search(
            r"noise\W+(?:\w+\W+){0,3}$", rest[: m.start()], re.I
        ):
            found["noise_file"] = path
        else:
            found["file"] = found["file"] or path
        spans.append(m.span(1))
    rest = _blank_original(request, spans)
    ident = r"[A-Za-z0-9_.-]*\d[A-Za-z0-9_.-]*"
    listed = (
        rf"\bjobs?(?:\s+ids?)?[\s:#=]+({ident}(?:\s*(?:,|and|&|with|vs\.?|versus|to)\s*(?:job\s+)?{ident})*)"
    )
    for m in re.finditer(rf"\b\d{{8}}-\d{{6}}-[0-9a-fA-F]{{6}}\b|{listed}", rest):
        for job_id in re.findall(ident, m.group(1)) if m.group(1) else [m.group(0)]:
            if job_id not in found["job_ids"]:
                found["job_ids"].append(job_id)
        spans.append(m.span(1) if m.group(1) else m.span())
    return _blank_original(request, spans), found


def _correct(text: str, protected: set[str]) -> str:
    """Lower case, common typos fixed, number words before a unit written as digits."""
    text = text.lower().replace("’", "'").replace("–", "-").replace("—", "-")
    text = re.sub(r"\bgrover'?s\b", "grover", text)
    text = re.sub(r"\b(?:the )?quantum fourier transform\b|\bfourier transform\b", "qft", text)
    text = re.sub(r"\bgreenberger[\s-]*horne[\s-]*zeilinger\b", "ghz", text)
    text = re.sub(r"\bw[\s-]+state\b", "w state", text)

    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        if word in _TYPOS:
            return _TYPOS[word]
        if len(word) < 6 or word in protected or word in _KEYWORDS:
            return word
        close = difflib.get_close_matches(word, [k for k in _KEYWORDS if k[0] == word[0]], n=1, cutoff=0.8)
        return close[0] if close else word

    text = re.sub(r"(?<![\w:-])[a-z]+(?![\w:-])", fix, text)

    def number(m: re.Match[str]) -> str:
        if m.group(3):
            return m.group(0) if m.group(3) == "a" else str(_NUMBER_WORDS[m.group(3)])
        return str(_NUMBER_WORDS.get(m.group(1) or "a", 1) * _SCALE[m.group(2)])

    words = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    text = re.sub(
        rf"\b(?:({words})\s+)?(hundred|thousand|million)\b{_UNIT}|\b({words})\b{_UNIT}", number, text
    )
    while re.search(r"\d,\d{3}\b", text):
        text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text)
    return text


def _circuit_names(memory: PlannerMemory) -> dict[str, int]:
    """Library names and how many parameters each takes (from a usage like ghz:N, or the defaults)."""
    defaults = {u.split(":")[0].split("[")[0]: u.count(":") for u in DEFAULT_CIRCUITS}
    names: dict[str, int] = {}
    for entry in memory.known_circuits or DEFAULT_CIRCUITS:
        name = entry.split(":")[0].split("[")[0].strip().lower()
        if name:
            names[name] = entry.count(":") if ":" in entry else defaults.get(name, 1)
    return names


def _find_circuits(req: _Request, names: dict[str, int]) -> None:
    """Library circuits in the text: ghz:12, ghz 12, ghz of 12 qubits, 12-qubit ghz, random circuit of 10 qubits
    and depth 20, qaoa 6 qubits 2 layers, bell. A name:number form that is not in the library is kept as said:
    the tool refuses it with the library's own list."""
    skip = {kind for kind, _ in _NOISE_KINDS} | {
        "seed",
        "shots",
        "job",
        "depth",
        "p",
        "qubits",
        "layers",
        "noise",
    }
    skip |= {"depolarizing", "depol", "amp_damp", "dephasing", "thermal", "thermal_relaxation", "readout"}
    for m in re.finditer(r"\b([a-z][a-z0-9_]*)((?::\d+)+)(?![\d.:])", req.text):
        if m.group(1) not in skip:
            req.circuits.append(m.group(1) + m.group(2))
            req.blank(m)
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    if not alternatives:
        return
    kind = r"(?:\s+(?:states?|circuits?|search|algorithm|transform|pairs?|model))?"
    tail = r"(?!\d|\.\d|\s*(?:k\b|shots|%|percent|samples|seed|times|layers))(?:\s*-?\s*qubits)?"
    gap = r"(?:[\s_=-]|\b(?:of|with|on|for|over|using|at|across|in|size|n)\b)*"
    after = rf"\b({alternatives}){kind}{gap}(\d+){tail}"
    before = rf"\b(\d+)\s*-?\s*qubits?\s+({alternatives}){kind}\b"
    found: list[tuple[int, str, int]] = []
    for m in re.finditer(after, req.text):
        if names.get(m.group(1), 1) >= 1:
            found.append((m.start(), m.group(1), int(m.group(2))))
            req.blank(m)
    for m in re.finditer(before, req.text):
        if names.get(m.group(2), 1) >= 1:
            found.append((m.start(), m.group(2), int(m.group(1))))
            req.blank(m)
    for m in re.finditer(rf"\b({alternatives}){kind}\b", req.text):
        name = m.group(1)
        ambiguous = name in ("random", "w") and not re.match(r"\w+\s+(?:states?|circuits?)", m.group(0))
        if not ambiguous and not (name == "random" and req.text[m.end() :].lstrip().startswith("seed")):
            found.append((m.start(), name, -1))
            req.blank(m)
    for _, name, n in sorted(found):
        spec = name if n < 0 or names.get(name) == 0 else f"{name}:{n}"
        if name in ("random", "qaoa") and n >= 0:
            word = r"depth" if name == "random" else r"(?:layers?|p|rounds?|depth)"
            depth = req.find(rf"\b{word}\s*(?:of|=|:)?\s*(\d+)\b|\b(\d+)\s*(?:layers?|rounds?|deep)\b")
            if depth:
                spec += ":" + (depth.group(1) or depth.group(2))
                req.blank(depth)
        req.circuits.append(spec)


def _find_backends(req: _Request, available: list[str]) -> None:
    hits: list[tuple[int, str]] = []
    for backend_id, pattern in _BACKEND_ALIASES:
        for m in re.finditer(pattern, req.text):
            hits.append((m.start(), backend_id))
            req.blank(m)
    for backend_id in available:
        for m in re.finditer(rf"(?<![\w-]){re.escape(backend_id.lower())}(?![\w-])", req.text):
            hits.append((m.start(), backend_id))
            req.blank(m)
    for m in re.finditer(r"(?<![\w-])([a-z]+-(?:sv|dm|mps|gpu|tn|stabilizer))(?![\w-])", req.text):
        req.foreign.append(m.group(1))
        req.blank(m)
    for name in _FOREIGN_BACKENDS:
        hit = req.find(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        if hit:
            req.foreign.append(name)
            req.blank(hit)
    for family, pattern in _FAMILIES:
        for m in re.finditer(pattern, req.text):
            req.families.append(family)
            req.blank(m)
    for _, backend_id in sorted(hits):
        if backend_id not in req.backends:
            req.backends.append(backend_id)


def _find_shots_and_seed(req: _Request) -> None:
    units = r"(?:shots|samples|repetitions|reps)\b"
    m = req.find(rf"(-?\d+(?:\.\d+)?(?:e\d+)?)\s*(k|m|thousand|million)?\s*{units}") or req.find(
        rf"\b{units}\s*(?:=|:|of|to)?\s*(-?\d+(?:\.\d+)?(?:e\d+)?)\s*(k|m)?\b"
    )
    if m:
        try:
            value = float(m.group(1)) * {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(
                m.group(2) or "", 1
            )
        except ValueError:
            value = -1.0
        if value.is_integer() and 1 <= value <= MAX_SHOTS:
            req.shots = int(value)
        else:
            req.bad_shots = m.group(0).strip()
        req.blank(m)
    m = req.find(r"\bseed\s*(?:=|:|of|to)?\s*(\d+)\b")
    if m:
        req.seed = int(m.group(1))
        req.blank(m)


def _number(value: str, percent: str | None) -> str:
    x = float(value) / (100 if percent else 1)
    return format(round(x, 12), ".12g")


def _find_noise(req: _Request) -> None:
    """Noise in words (1% depolarizing, phase damping 0.001, readout error 2%) or the short syntax, in order."""
    found: list[tuple[int, str]] = []
    for m in re.finditer(_LITERAL_NOISE, req.text):
        found.append((m.start(), m.group(0)))
        req.blank(m)
    thermal = req.find(
        r"thermal(?:[\s_-]*relaxation)?\s+(?:with\s+)?t1\s*[=:]?\s*" + _NUM + r"\s*,?\s*(?:and\s+)?t2\s*[=:]?\s*"
        + _NUM + r"\s*,?\s*(?:and\s+)?(?:(?:a\s+)?gate[\s_-]*time|tg)\s*(?:of\s*)?[=:]?\s*" + _NUM
    )  # fmt: skip
    if thermal:
        found.append((thermal.start(), f"thermal:{thermal.group(1)}:{thermal.group(2)}:{thermal.group(3)}"))
        req.blank(thermal)
    mentions = sorted(
        (m.start(), m.end(), kind)
        for kind, pattern in _NOISE_KINDS
        for m in re.finditer(rf"\b(?:{pattern})\b", req.text)
    )
    taken: list[tuple[int, int]] = []
    for start, end, kind in mentions:
        if any(s <= start < e for s, e in taken):
            continue
        taken.append((start, end))
        before = re.search(rf"{_NUM}{_PCT}\s*(?:of\s+)?$", req.text[:start])
        after = re.match(rf"{_NOISE_FILLER}{_NUM}{_PCT}", req.text[end:])
        if before and not any(s <= before.start() < e for s, e in taken):
            value, span = _number(before.group(1), before.group(2)), before.span()
        elif after:
            value, span = _number(after.group(1), after.group(2)), (end + after.start(1), end + after.end())
        else:
            req.noise_unsized.append(kind)
            continue
        taken.append(span)
        spec = f"{'readout' if kind == 'readout' else kind}:{value}"
        tail = max(span[1], end)
        gates = re.match(
            rf"{_NOISE_FILLER}(?:on|after)\s+(?:the\s+|all\s+|every\s+)?"
            rf"({_GATE_NAMES}(?:\s*(?:,|and)\s*{_GATE_NAMES})*)\s+gates?\b",
            req.text[tail:],
        )
        if gates:
            names = re.findall(rf"\b{_GATE_NAMES}\b", gates.group(1))
            spec += "@" + ",".join("cx" if g == "cnot" else g for g in names)
            taken.append((tail, tail + gates.end()))
        found.append((start, spec))
    for start, end in sorted(taken, reverse=True):
        req.text = req.text[:start] + " " * (end - start) + req.text[end:]
    req.noise = [spec for _, spec in sorted(found)]


def _read(request: str, memory: PlannerMemory) -> _Request:
    rest, verbatim = _take_verbatim(request)
    names = _circuit_names(memory)
    req = _Request(text=_correct(rest, set(names)), original=request)
    req.circuits, req.job_ids = list(verbatim["circuits"]), list(verbatim["job_ids"])
    req.file, req.noise_file = verbatim["file"], verbatim["noise_file"]
    _find_backends(req, memory.backends or list(DEFAULT_BACKENDS))
    _find_circuits(req, names)
    _find_shots_and_seed(req)
    _find_noise(req)
    req.text = re.sub(r"\s+", " ", req.text).strip()  # what was taken out leaves no gaps for the intents
    return req


# --- deciding -------------------------------------------------------------------------------------------------------


def _intents(req: _Request) -> list[str]:
    hits = []
    for order, (intent, pattern) in enumerate(_INTENTS):
        m = re.search(pattern, req.text)
        if m:
            hits.append((m.start(), order, intent))
    return [intent for _, _, intent in sorted(hits)]


def _short(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _decline(understood: str, cannot: str, *suggestions: str, llm: bool = False) -> Decline:
    extra = [LLM_HINT] if llm else []
    return Decline(understood=understood, cannot=cannot, suggestions=[*suggestions, *extra])


class _Builder:
    """Turns what was read into a plan for one intent, checking what the planner knows (backends, job ids)."""

    def __init__(self, req: _Request, memory: PlannerMemory) -> None:
        self.req = req
        self.memory = memory
        self.available = memory.backends or list(DEFAULT_BACKENDS)
        self.said = _short(req.original)

    # what the request needs, or a Decline saying what is missing

    def problem(self, needs_circuit: bool, vague_noise: bool = True) -> Decline | None:
        req = self.req
        if req.foreign:
            return _decline(
                self.said,
                f"backend {req.foreign[0]!r} is not available here; the backends are "
                + ", ".join(self.available),
                "list backends",
                f"run ghz:5 on {self.available[0]}" if self.available else "list backends",
            )
        for backend_id in req.backends:
            if backend_id not in self.available:
                return _decline(
                    self.said, f"backend {backend_id} is not available here; available: " + ", ".join(self.available),
                    "list backends",
                )  # fmt: skip
        if req.bad_shots:
            return _decline(
                self.said, f"{req.bad_shots!r} is not a number of shots Proxima can run: it takes 1 to {MAX_SHOTS:,}",
                "run ghz:5 with 1000 shots",
            )  # fmt: skip
        if req.noise_unsized:
            kind = req.noise_unsized[0].replace("_", " ")
            return _decline(
                self.said, f"how strong is the {kind} noise? a probability is needed",
                f"... with {kind} 0.01", f"... with 1% {kind}",
            )  # fmt: skip
        vague = req.has(r"\bnoisy\b|\bnoise\b") and not req.has(_NOISELESS)
        if vague_noise and vague and not req.noise and not req.noise_file:
            return _decline(
                self.said, "which noise? name a kind and its probability",
                "... with 1% depolarizing noise", "... with amplitude damping 0.01", "... with readout error 2%",
            )  # fmt: skip
        if len(set(req.circuits)) > 1:
            return _decline(
                self.said, "one circuit per request: found " + ", ".join(_short(c, 30) for c in req.circuits),
                f"run {_short(req.circuits[0], 30)}",
            )  # fmt: skip
        if needs_circuit and self.circuit() is None:
            return _decline(
                self.said, "no circuit named that the library has (or OpenQASM text, or a .qasm file)",
                "list circuits", "run ghz:5", "describe qft:4", "give OpenQASM text or a .qasm path in the workspace",
            )  # fmt: skip
        return None

    def circuit(self) -> str | None:
        if self.req.circuits:
            return self.req.circuits[0]
        return self.memory.last_circuit

    def backend(self) -> str | None:
        if self.req.backends:
            return self.req.backends[0]
        if self.req.families:
            noisy = bool(self.req.noise or self.req.noise_file)
            return f"{self.req.families[0]}-{'dm' if noisy else 'sv'}"
        if self.req.has(r"\bsame backend\b|\bsame simulator\b") and self.memory.last_backend:
            return self.memory.last_backend
        return None

    def noise(self) -> str | None:
        if self.req.noise_file:
            return self.req.noise_file
        return ";".join(self.req.noise) or None

    def run_args(self, *, noise: bool = True) -> dict[str, Any]:
        args: dict[str, Any] = {"circuit": self.circuit()}
        backend = self.backend()
        if backend:
            args["backend"] = backend
        if self.req.shots is not None:
            args["shots"] = self.req.shots
        if self.req.seed is not None:
            args["seed"] = self.req.seed
        if noise and self.noise():
            args["noise"] = self.noise()
        return args

    def describe_run(self, args: Mapping[str, Any]) -> str:
        text = _short(str(args["circuit"]), 40)
        if "backend" in args:
            text += f" on {args['backend']}"
        elif "backends" in args:
            text += " on " + ", ".join(args["backends"])
        if "shots" in args:
            text += f" with {args['shots']} shots"
        if "seed" in args:
            text += f", seed {args['seed']}"
        return text + (f", noise {args['noise']}" if "noise" in args else ", noiseless")

    def last_job(self) -> str | Decline:
        if self.req.job_ids:
            return self.req.job_ids[0]
        if self.memory.last_job_id:
            return self.memory.last_job_id
        return _decline(
            self.said, "there is no job in this conversation yet, and the request names none",
            "run ghz:5 (then: status of the last job)", "list jobs", "status of job <id>",
        )  # fmt: skip

    # one method per intent

    def run(self, interpret: bool) -> Plan | Decline:
        args = self.run_args()
        steps = [
            Step(
                tool="execute", args=args, why="run it; a short run returns its result, a long one its job id"
            )
        ]
        intent: Intent = "run"
        what = "run " + self.describe_run(args)
        if interpret:
            intent, what = "run_interpret", what + ", then interpret the result"
            steps += self.follow_up(ideal=True)
        return Plan(intent=intent, understood=what, steps=steps)

    def follow_up(self, *, ideal: bool) -> list[Step]:
        job = Ref(step=0, field="job_id")
        return [
            Step(tool="wait_job", args={"job_id": job}, why="wait for the run to end (at once if it has)"),
            Step(
                tool="interpret",
                args={"job_id": job, "ideal": ideal, "chart": False},
                why="read the result"
                + (": for a noisy run, its fidelity to the noiseless one" if ideal else ""),
            ),
        ]

    def noise_cost(self) -> Plan | Decline:
        if not self.req.circuits and (
            self.req.job_ids or (self.memory.last_job_id and not self.memory.last_circuit)
        ):
            job = self.last_job()
            if isinstance(job, Decline):
                return job
            args = {"job_id": job, "ideal": True, "chart": False}
            step = Step(tool="interpret", args=args, why="its fidelity to the same circuit run without noise")
            return Plan(
                intent="noise_cost", understood=f"what the noise cost job {job} in fidelity", steps=[step]
            )
        if not self.noise():
            if self.memory.last_job_id and not self.req.circuits:
                return self.interpret()
            return _decline(
                self.said, "which noise? the cost of noise needs a noise model to run with",
                f"run {self.circuit() or 'ghz:5'} with 1% depolarizing noise and tell me what the noise costs in fidelity",
            )  # fmt: skip
        args = self.run_args()
        steps = [Step(tool="execute", args=args, why="run it with the noise")]
        steps += self.follow_up(ideal=True)
        what = "run " + self.describe_run(args) + ", and measure its fidelity to the noiseless run"
        return Plan(intent="noise_cost", understood=what, steps=steps)

    def compare(self) -> Plan | Decline:
        req = self.req
        jobs = list(req.job_ids)
        if self.memory.last_job_id and re.search(
            r"\b(?:last|latest|previous) (?:job|run|result)\b", req.text
        ):
            jobs = [self.memory.last_job_id, *[j for j in jobs if j != self.memory.last_job_id]]
        if len(jobs) >= 2 and not req.circuits:
            return Plan(
                intent="compare", understood="compare jobs " + ", ".join(jobs),
                steps=[Step(tool="compare", args={"job_ids": jobs}, why="agreement and ranking of finished jobs")],
            )  # fmt: skip
        backends = list(req.backends)
        for family in req.families:
            for suffix in ("sv", "dm"):
                if f"{family}-{suffix}" in self.available and f"{family}-{suffix}" not in backends:
                    backends.append(f"{family}-{suffix}")
        if len(backends) == 1:
            return _decline(
                self.said, f"a comparison needs at least two backends; only {backends[0]} was named",
                f"compare {backends[0]} and {next((b for b in self.available if b != backends[0]), 'lret')} on "
                f"{self.circuit() or 'ghz:5'}", f"compare all backends on {self.circuit() or 'ghz:5'}",
            )  # fmt: skip
        args = self.run_args()
        args.pop("backend", None)
        if backends:
            args["backends"] = backends
        why = "run it on each backend, then measure agreement and rank them"
        which = "" if backends else " on every enabled backend that can run it"
        return Plan(
            intent="compare", understood="compare " + self.describe_run(args) + which,
            steps=[Step(tool="compare", args=args, why=why)],
        )  # fmt: skip

    def select(self) -> Plan:
        args = self.run_args()
        args.pop("backend", None)
        args.pop("seed", None)
        if len(self.req.backends) >= 2:
            args["backends"] = list(self.req.backends)
        return Plan(
            intent="select", understood="choose a backend for " + self.describe_run(args),
            steps=[Step(tool="select_backend", args=args, why="the documented rules' choice, with the reason")],
        )  # fmt: skip

    def estimate(self) -> Plan:
        args = {k: v for k, v in self.run_args().items() if k in ("circuit", "noise", "shots")}
        return Plan(
            intent="estimate", understood="estimate memory and time for " + self.describe_run(args),
            steps=[Step(tool="estimate_resources", args=args, why="memory and time per backend, and what fits")],
        )  # fmt: skip

    def describe(self) -> Plan:
        args: dict[str, Any] = {"circuit": self.circuit()}
        if self.req.has(r"\b(?:open)?qasm\b|\bqasm[23]\b|\bsource\b|\bcode\b"):
            args["qasm"] = 3 if self.req.has(r"\b(?:open)?qasm\s*3\b|\bversion 3\b") else 2
        what = (
            "describe "
            + _short(str(args["circuit"]), 40)
            + (f" (with its OpenQASM {args['qasm']})" if "qasm" in args else "")
        )
        return Plan(
            intent="describe", understood=what,
            steps=[Step(tool="describe_circuit", args=args, why="qubits, depth, gate counts, Clifford or not")],
        )  # fmt: skip

    def job(self, verb: str) -> Plan | Decline:
        job = self.last_job()
        if isinstance(job, Decline):
            return job
        tools = {"pause": "pause", "resume": "resume", "abort": "abort", "status": "job_status", "wait": "wait_job",
                 "rollback": "rollback", "checkpoint": "checkpoint"}  # fmt: skip
        args: dict[str, Any] = {"job_id": job}
        if verb == "pause" and self.req.has(r"\bsuspend\b|\bfree (?:the )?memory\b"):
            args["mode"] = "suspend"
        if verb == "rollback":
            m = self.req.find(
                r"\b(?:checkpoint|number|no\.?|#)\s*(\d+)\b|\b(\d+)(?:st|nd|rd|th)? checkpoint\b|\bto (\d+)\b"
            )
            if not m:
                return _decline(
                    self.said, "a rollback needs the checkpoint to go back to",
                    f"roll back job {job} to checkpoint 1", f"status of job {job} (lists its checkpoints)",
                )  # fmt: skip
            args["number"] = int(next(g for g in m.groups() if g))
        why = {"pause": "pause the job", "resume": "continue the job", "abort": "stop the job for good",
               "status": "its state, progress and checkpoints", "wait": "wait for it to end (bounded)",
               "rollback": "continue from that checkpoint", "checkpoint": "save its state now"}[verb]  # fmt: skip
        words = {
            "status": "status of",
            "wait": "wait for",
            "rollback": "roll back",
            "checkpoint": "checkpoint",
        }
        what = f"{words.get(verb, verb)} job {job}" + (
            f" to checkpoint {args['number']}" if "number" in args else ""
        )
        intent: Intent = "checkpoint" if verb == "checkpoint" else "job"
        return Plan(intent=intent, understood=what, steps=[Step(tool=tools[verb], args=args, why=why)])

    def interpret(self) -> Plan | Decline:
        req = self.req
        if req.file:
            args: dict[str, Any] = {"file": req.file, "chart": False}
            what = f"interpret the results file {req.file}"
        elif len(req.job_ids) >= 2:
            args, what = (
                {"job_ids": list(req.job_ids), "chart": False},
                "interpret jobs " + ", ".join(req.job_ids),
            )
        elif req.circuits and not req.job_ids:
            return self.run(interpret=True)
        else:
            job = self.last_job()
            if isinstance(job, Decline):
                return job
            args, what = {"job_id": job, "chart": False}, f"interpret the result of job {job}"
        why = "a reading built from the result's statistics"
        return Plan(intent="interpret", understood=what, steps=[Step(tool="interpret", args=args, why=why)])

    def list_jobs(self) -> Plan:
        args: dict[str, Any] = {}
        m = self.req.find(
            r"\b(?:last|latest|recent|first|top)\s+(\d+)\b|\b(\d+)\s+(?:most recent|latest|last)?\s*jobs\b"
        )
        if m:
            args["limit"] = max(1, min(500, int(m.group(1) or m.group(2))))
        states = [state for word, state in _JOB_STATES.items() if self.req.has(rf"\b{word}\b")]
        if states:
            args["states"] = list(dict.fromkeys(states))
        what = (
            "list " + (", ".join(s.lower() for s in args.get("states", [])) + " " if states else "") + "jobs"
        )
        return Plan(
            intent="list_jobs",
            understood=what,
            steps=[Step(tool="list_jobs", args=args, why="the most recent jobs")],
        )

    def list_backends(self) -> Plan:
        check = self.req.has(r"\bself[\s-]?tests?\b|\bcheck\b|\btest (?:them|each|all|the)\b|\bhealth")
        args = {"check": True} if check else {}
        what = "list the backends" + (" and self-test each" if check else "")
        why = "what is installed, what it supports, how many qubits fit here"
        return Plan(
            intent="list_backends", understood=what, steps=[Step(tool="list_backends", args=args, why=why)]
        )


def _direct(intent: Intent, understood: str, **values: Any) -> Plan:
    from proxima_agent.agent.answers import render

    return Plan(intent=intent, understood=understood, direct_answer=render(intent, **values))


def plan(request: str, memory: PlannerMemory | None = None) -> Plan | Decline:
    """The plan for one request, given what the conversation so far says. Deterministic."""
    memory = memory or PlannerMemory()
    if not request.strip():
        return _direct(
            "help",
            "help: what the offline planner understands",
            backends=memory.backends or list(DEFAULT_BACKENDS),
        )
    req = _read(request, memory)
    build = _Builder(req, memory)
    said = build.said
    if req.has(_GPU):
        return _decline(
            said, "no backend here runs on a GPU; the backends are " + ", ".join(build.available),
            "list backends", "run qft:20 (the rules choose the fastest backend that fits)", llm=True,
        )  # fmt: skip
    if req.has(_BEYOND):
        return _decline(
            said, "this is beyond the offline planner: without an LLM it understands only running, comparing, "
            "estimating and describing circuits, choosing a backend, and controlling and interpreting jobs",
            *_EXAMPLES, "help", llm=True,
        )  # fmt: skip
    intents = _intents(req)
    first = intents[0] if intents else None
    if first == "help":
        return _direct("help", "help: what the offline planner understands", backends=build.available)
    if first == "list_circuits":
        known = memory.known_circuits or list(DEFAULT_CIRCUITS)
        return _direct("list_circuits", "list the library circuits", circuits=known)
    if first == "list_backends" and req.circuits:
        first = "estimate"  # which backends can run X: the per-backend estimate answers that
    if first == "status" and req.has(r"\bjobs\b") and len(req.job_ids) < 2 and not req.job_ids:
        first = "list_jobs"
    if first == "select" and not req.circuits and not memory.last_circuit:
        first = "list_backends"
    noise_cost = (
        req.has(_NOISE_COST)
        and first not in ("list_jobs", "list_backends")
        and not (first == "compare" and len(req.backends) + len(req.families) >= 2)
    )
    if noise_cost and first in ("run", "compare", "interpret", "estimate", "describe", None):
        problem = build.problem(needs_circuit=False, vague_noise=False)
        return problem or build.noise_cost()
    if first == "run" and "compare" in intents:
        first = "compare"
    elif first == "run" and "interpret" in intents:
        first = "run_interpret"
    if first is None:
        if req.circuits and not set(re.findall(r"[a-z]+", req.text)) - _FILLER:
            first = "run"  # a bare circuit, perhaps with a backend and shots: run it
        else:
            return _decline(
                said, "the offline planner did not recognise this request",
                *_EXAMPLES, "help", llm=True,
            )  # fmt: skip
    if first in ("pause", "resume", "abort", "status", "wait", "rollback", "checkpoint"):
        return build.problem(needs_circuit=False) or build.job(first)
    if first == "list_jobs":
        return build.list_jobs()
    if first == "list_backends":
        return build.problem(needs_circuit=False) or build.list_backends()
    if first == "interpret":
        return build.problem(needs_circuit=False) or build.interpret()
    if first == "compare" and len(req.job_ids) >= 2 and not req.circuits:
        return build.compare()
    problem = build.problem(needs_circuit=True)
    if problem:
        return problem
    if first == "compare":
        return build.compare()
    if first == "select":
        return build.select()
    if first == "estimate":
        return build.estimate()
    if first == "describe":
        return build.describe()
    return build.run(interpret=first == "run_interpret")


__all__ = ["Decline", "Plan", "PlannerMemory", "Ref", "Step", "is_tool_error", "plan", "resolve_refs"]
