"""The offline planner and its answers: a table of phrasings and the tool calls they become (misspellings, filler,
numbers as words), requests it must decline, determinism, references between steps, every step's arguments
valid for its tool, and answers written from real tool outputs whose every number is one the tools returned."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from proxima_agent.agent.answers import answer, render
from proxima_agent.agent.planner import (
    DEFAULT_BACKENDS,
    DEFAULT_CIRCUITS,
    LLM_HINT,
    Decline,
    Plan,
    PlannerMemory,
    Ref,
    Step,
    is_tool_error,
    plan,
    resolve_refs,
)
from proxima_agent.errors import InputError, ProximaError
from proxima_agent.paths import resource_dir
from proxima_agent.tools.registry import registry

JOB = "20261203-190239-905f12"
OTHER = "20261203-190240-d03177"
AFTER_A_RUN = PlannerMemory(last_job_id=JOB, last_circuit="ghz:5", last_backend="aer-sv")
FRESH = PlannerMemory()

# (request, memory, [(tool, subset of its arguments), ...]); an argument given as None must be absent.
PHRASINGS: list[tuple[str, PlannerMemory, list[tuple[str, dict[str, Any]]]]] = [
    # run / simulate / execute, with misspellings and filler
    ("run ghz:12", FRESH, [("execute", {"circuit": "ghz:12", "backend": None, "noise": None})]),
    ("simualte ghz 12", FRESH, [("execute", {"circuit": "ghz:12"})]),
    ("Please could you simulate a GHZ state on 12 qubits?", FRESH, [("execute", {"circuit": "ghz:12"})]),
    ("execute qft of 10 qubits on aer-sv", FRESH, [("execute", {"circuit": "qft:10", "backend": "aer-sv"})]),
    ("exectue a 10-qubit qft, 2000 shots", FRESH, [("execute", {"circuit": "qft:10", "shots": 2000})]),
    (
        "run grover:5 with 1,000 shots and seed 7",
        FRESH,
        [("execute", {"circuit": "grover:5", "shots": 1000, "seed": 7})],
    ),
    ("run bell with 2k shots", FRESH, [("execute", {"circuit": "bell", "shots": 2000})]),
    ("simulate bell with a thousand shots", FRESH, [("execute", {"circuit": "bell", "shots": 1000})]),
    ("simulate a five qubit ghz", FRESH, [("execute", {"circuit": "ghz:5"})]),
    ("run the quantum fourier transform on 6 qubits", FRESH, [("execute", {"circuit": "qft:6"})]),
    (
        "run grover's search with 4 qubits on cirq statevector",
        FRESH,
        [("execute", {"circuit": "grover:4", "backend": "cirq-sv"})],
    ),
    ("ghz 8 on lret", FRESH, [("execute", {"circuit": "ghz:8", "backend": "lret"})]),
    ("run random:10:20:7", FRESH, [("execute", {"circuit": "random:10:20:7"})]),
    (
        "simulate a random circuit with 10 qubits and depth 20",
        FRESH,
        [("execute", {"circuit": "random:10:20"})],
    ),
    ("run qaoa with 6 qubits and 2 layers", FRESH, [("execute", {"circuit": "qaoa:6:2"})]),
    ("simulate a w state of 5 qubits", FRESH, [("execute", {"circuit": "w:5"})]),
    (
        "run ghz:4 on qiskit aer density matrix",
        FRESH,
        [("execute", {"circuit": "ghz:4", "backend": "aer-dm"})],
    ),
    ("run it again", AFTER_A_RUN, [("execute", {"circuit": "ghz:5"})]),
    (
        "run it again on the same backend",
        AFTER_A_RUN,
        [("execute", {"circuit": "ghz:5", "backend": "aer-sv"})],
    ),
    (
        "run circuits/teleport.qasm on cirq-sv",
        FRESH,
        [("execute", {"circuit": "circuits/teleport.qasm", "backend": "cirq-sv"})],
    ),
    (
        'run OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c; with 500 shots',
        FRESH,
        [
            (
                "execute",
                {
                    "circuit": 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q -> c;',
                    "shots": 500,
                },
            )
        ],
    ),
    # noise in words and in the short syntax
    (
        "run ghz:5 with 1% depolarizing noise",
        FRESH,
        [("execute", {"circuit": "ghz:5", "noise": "depolarizing:0.01"})],
    ),
    ("simulate qft:4 with phase damping 0.001", FRESH, [("execute", {"noise": "phase_damping:0.001"})]),
    (
        "run bell with amplitude damping of 0.01 on aer-dm",
        FRESH,
        [("execute", {"noise": "amplitude_damping:0.01", "backend": "aer-dm"})],
    ),
    ("run bell with readout error 2%", FRESH, [("execute", {"noise": "readout:0.02"})]),
    (
        "run ghz:3 with depolarising noise of 0.5 percent and a readout error of 1%",
        FRESH,
        [("execute", {"noise": "depolarizing:0.005;readout:0.01"})],
    ),
    (
        "run ghz:3 with 2% bit flip and 1% phase flip",
        FRESH,
        [("execute", {"noise": "bit_flip:0.02;phase_flip:0.01"})],
    ),
    (
        "run ghz:3 with noise depolarizing:0.01;readout:0.02",
        FRESH,
        [("execute", {"noise": "depolarizing:0.01;readout:0.02"})],
    ),
    ("run ghz:3 with 1% depolarizing on cx gates", FRESH, [("execute", {"noise": "depolarizing:0.01@cx"})]),
    (
        "run ghz:3 with thermal relaxation t1 50 t2 70 gate time 0.1",
        FRESH,
        [("execute", {"noise": "thermal:50:70:0.1"})],
    ),
    ("run ghz:3 on qiskit with 1% depolarizing noise", FRESH, [("execute", {"backend": "aer-dm"})]),
    ("run ghz:3 without noise", FRESH, [("execute", {"circuit": "ghz:3", "noise": None})]),
    # the cost of noise: a noisy run, then its fidelity to the noiseless one
    (
        "run ghz:5 with 1% depolarizing noise and tell me what the noise costs in fidelity",
        FRESH,
        [("execute", {"noise": "depolarizing:0.01"}), ("wait_job", {}), ("interpret", {"ideal": True})],
    ),
    (
        "compare ghz:4 with and without noise, amplitude damping 0.02",
        FRESH,
        [
            ("execute", {"circuit": "ghz:4", "noise": "amplitude_damping:0.02"}),
            ("wait_job", {}),
            ("interpret", {"ideal": True}),
        ],
    ),
    (
        "what did the noise cost the last job in fidelity?",
        AFTER_A_RUN.model_copy(update={"last_circuit": None}),
        [("interpret", {"job_id": JOB, "ideal": True})],
    ),
    (
        "run ghz:3 and explain the result",
        FRESH,
        [("execute", {"circuit": "ghz:3"}), ("wait_job", {}), ("interpret", {})],
    ),
    # compare
    (
        "compare aer-sv and cirq-sv on ghz:5",
        FRESH,
        [("compare", {"circuit": "ghz:5", "backends": ["aer-sv", "cirq-sv"]})],
    ),
    (
        "compair aer-sv, cirq-sv and lret on qft:6 with 1% depolarizing noise",
        FRESH,
        [("compare", {"backends": ["aer-sv", "cirq-sv", "lret"], "noise": "depolarizing:0.01"})],
    ),
    (
        "comapre all backends on bell with 500 shots",
        FRESH,
        [("compare", {"circuit": "bell", "backends": None, "shots": 500})],
    ),
    (
        "is aer-sv faster than cirq-sv on qft:12?",
        FRESH,
        [("compare", {"backends": ["aer-sv", "cirq-sv"], "circuit": "qft:12"})],
    ),
    (
        "aer-dm versus lret for ghz:6 with 1% depolarizing",
        FRESH,
        [("compare", {"backends": ["aer-dm", "lret"]})],
    ),
    (f"compare jobs {JOB} and {OTHER}", FRESH, [("compare", {"job_ids": [JOB, OTHER], "circuit": None})]),
    # select, estimate, describe
    ("which backend should I use for qft:10?", FRESH, [("select_backend", {"circuit": "qft:10"})]),
    (
        "what simulator for ghz 20 with 1% depolarizing noise",
        FRESH,
        [("select_backend", {"circuit": "ghz:20", "noise": "depolarizing:0.01"})],
    ),
    ("recommend a backend for it", AFTER_A_RUN, [("select_backend", {"circuit": "ghz:5"})]),
    ("will qft:30 fit?", FRESH, [("estimate_resources", {"circuit": "qft:30"})]),
    (
        "how much memory would ghz 28 need with 1% depolarizing noise?",
        FRESH,
        [("estimate_resources", {"circuit": "ghz:28", "noise": "depolarizing:0.01"})],
    ),
    (
        "how long would a 20-qubit qft take to simulate",
        FRESH,
        [("estimate_resources", {"circuit": "qft:20"})],
    ),
    ("which simulators can run ghz:30?", FRESH, [("estimate_resources", {"circuit": "ghz:30"})]),
    ("describe grover:3", FRESH, [("describe_circuit", {"circuit": "grover:3", "qasm": None})]),
    (
        "decribe qft 4 and show me the openqasm 3",
        FRESH,
        [("describe_circuit", {"circuit": "qft:4", "qasm": 3})],
    ),
    ("show circuit bell as qasm", FRESH, [("describe_circuit", {"circuit": "bell", "qasm": 2})]),
    # jobs
    ("pause the last job", AFTER_A_RUN, [("pause", {"job_id": JOB, "mode": None})]),
    ("pasue it", AFTER_A_RUN, [("pause", {"job_id": JOB})]),
    (
        f"suspend job {OTHER} to free the memory",
        AFTER_A_RUN,
        [("pause", {"job_id": OTHER, "mode": "suspend"})],
    ),
    ("resume", AFTER_A_RUN, [("resume", {"job_id": JOB})]),
    (f"please continue job {OTHER}", AFTER_A_RUN, [("resume", {"job_id": OTHER})]),
    ("abort it!", AFTER_A_RUN, [("abort", {"job_id": JOB})]),
    ("cancel the job", AFTER_A_RUN, [("abort", {"job_id": JOB})]),
    ("staus of the last job?", AFTER_A_RUN, [("job_status", {"job_id": JOB})]),
    (f"is job {OTHER} done yet", AFTER_A_RUN, [("job_status", {"job_id": OTHER})]),
    ("checkpoint it", AFTER_A_RUN, [("checkpoint", {"job_id": JOB})]),
    (f"roll back job {OTHER} to checkpoint 2", AFTER_A_RUN, [("rollback", {"job_id": OTHER, "number": 2})]),
    ("wait for the last job", AFTER_A_RUN, [("wait_job", {"job_id": JOB})]),
    # interpret
    ("interpret the last result", AFTER_A_RUN, [("interpret", {"job_id": JOB})]),
    ("explain the result", AFTER_A_RUN, [("interpret", {"job_id": JOB})]),
    ("interpert results/run.csv", FRESH, [("interpret", {"file": "results/run.csv"})]),
    (f"explain jobs {JOB} and {OTHER}", FRESH, [("interpret", {"job_ids": [JOB, OTHER]})]),
    # lists
    ("list backends", FRESH, [("list_backends", {"check": None})]),
    ("what simulators are there?", FRESH, [("list_backends", {})]),
    ("self-test the backends", FRESH, [("list_backends", {"check": True})]),
    ("list jobs", FRESH, [("list_jobs", {"states": None})]),
    ("show my running jobs", FRESH, [("list_jobs", {"states": ["EXECUTING"]})]),
    ("list the last 5 jobs", FRESH, [("list_jobs", {"limit": 5})]),
    ("status of all jobs", AFTER_A_RUN, [("list_jobs", {})]),
]

# (request, memory, what the decline's `cannot` must say)
DECLINES: list[tuple[str, PlannerMemory, str]] = [
    ("write me a poem about qubits", FRESH, "beyond the offline planner"),
    ("optimise my VQE ansatz", FRESH, "beyond the offline planner"),
    ("use a GPU", FRESH, "GPU"),
    ("run ghz:20 on the gpu", FRESH, "GPU"),
    ("what is the weather tomorrow", FRESH, "beyond the offline planner"),
    ("tell me something nice", FRESH, "did not recognise"),
    ("run ghz:5 on stim", FRESH, "'stim' is not available"),
    ("run ghz:5 on qsim", FRESH, "'qsim' is not available"),
    ("run ghz:5 on aer-mps", FRESH, "'aer-mps' is not available"),
    ("run ghz:5 on lret", PlannerMemory(backends=["aer-sv", "cirq-sv"]), "lret is not available"),
    ("pause the last job", FRESH, "no job in this conversation yet"),
    ("status", FRESH, "no job in this conversation yet"),
    ("interpret the last result", FRESH, "no job in this conversation yet"),
    ("simulate my teleportation circuit", FRESH, "no circuit"),
    ("run ghz:5 with 0 shots", FRESH, "not a number of shots"),
    ("run ghz:5 with 20000000 shots", FRESH, "not a number of shots"),
    ("run ghz:5 with depolarizing noise", FRESH, "how strong is the depolarizing noise"),
    ("run ghz:5 with some noise", FRESH, "which noise"),
    ("run ghz:5 and tell me what the noise costs in fidelity", FRESH, "which noise"),
    ("compare aer-sv on ghz:5", FRESH, "at least two backends"),
    ("compare ghz:5 and qft:5", FRESH, "one circuit per request"),
    ("roll back the last job", AFTER_A_RUN, "checkpoint to go back to"),
    ("run ghz:5 on a real quantum computer", FRESH, "beyond the offline planner"),
]


def _check(step: Step, tool: str, expected: dict[str, Any]) -> None:
    assert step.tool == tool, step
    for name, value in expected.items():
        if value is None:
            assert name not in step.args, (name, step.args)
        else:
            assert step.args.get(name) == value, (name, step.args)


@pytest.mark.parametrize(
    ("request_text", "memory", "expected"), PHRASINGS, ids=[p[0][:50] for p in PHRASINGS]
)
def test_phrasings_become_tool_calls(request_text, memory, expected):
    result = plan(request_text, memory)
    assert isinstance(result, Plan), result
    assert [s.tool for s in result.steps] == [tool for tool, _ in expected]
    for step, (tool, args) in zip(result.steps, expected, strict=True):
        _check(step, tool, args)
    assert result.understood and "\n" not in result.understood


@pytest.mark.parametrize(("request_text", "memory", "cannot"), DECLINES, ids=[d[0][:50] for d in DECLINES])
def test_requests_beyond_the_grammar_are_declined(request_text, memory, cannot):
    result = plan(request_text, memory)
    assert isinstance(result, Decline), result
    assert cannot in result.cannot
    assert result.understood and result.suggestions


def test_the_table_is_large_enough():
    assert len(PHRASINGS) >= 45 and len(DECLINES) >= 8


def test_free_form_declines_say_how_to_configure_an_llm():
    for text in ("write me a poem", "optimise my VQE ansatz", "use a GPU"):
        result = plan(text, FRESH)
        assert isinstance(result, Decline)
        assert LLM_HINT in result.suggestions
        assert "--model provider:name" in LLM_HINT and "agent.model" in LLM_HINT
        rendered = answer(result, [])
        assert "anthropic:claude-sonnet-4-5" in rendered and "ollama:qwen3:8b" in rendered
        assert result.understood in rendered and result.cannot in rendered


def test_help_and_list_circuits_are_direct_answers():
    helped = plan("help", FRESH)
    assert isinstance(helped, Plan) and not helped.steps and helped.direct_answer
    assert "compare" in helped.direct_answer and "aer-sv" in helped.direct_answer
    assert answer(helped, []) == helped.direct_answer
    assert plan("what can you do?", FRESH) == helped
    memory = PlannerMemory(known_circuits=["bell", "ghz:N", "mine:N"])
    listed = plan("which circuits are available?", memory)
    assert isinstance(listed, Plan) and listed.intent == "list_circuits" and not listed.steps
    assert listed.direct_answer and "`mine:N`" in listed.direct_answer and "`qft" not in listed.direct_answer
    assert plan("list circuits", FRESH).direct_answer.count("\n- `") == len(DEFAULT_CIRCUITS)  # type: ignore[union-attr]


def test_known_circuits_and_backends_come_from_memory():
    memory = PlannerMemory(known_circuits=["bell", "ring:N"], backends=["aer-sv", "stim"])
    result = plan("run ring 6 on stim", memory)
    assert isinstance(result, Plan)
    _check(result.steps[0], "execute", {"circuit": "ring:6", "backend": "stim"})
    assert isinstance(plan("run ghz:4 on cirq-sv", memory), Decline)


def test_a_misspelt_circuit_name_is_left_to_the_tool():
    result = plan("run grovr:5", FRESH)
    assert isinstance(result, Plan)
    assert result.steps[0].args["circuit"] == "grovr:5"  # the tool refuses it with the library's list


def test_plans_are_deterministic_and_round_trip_through_json():
    for text, memory, _ in PHRASINGS[:40]:
        first, second = plan(text, memory), plan(text, memory.model_copy())
        assert first == second
        again = type(first).model_validate_json(first.model_dump_json())
        assert again == first
    code = (
        "from proxima_agent.agent.planner import plan\n"
        "print(plan('run ghz:5 with 1% depolarizing noise and tell me what the noise costs').model_dump_json())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 1


def test_later_steps_refer_to_earlier_outputs():
    result = plan("run ghz:3 with 1% depolarizing noise and tell me what the noise costs in fidelity", FRESH)
    assert isinstance(result, Plan)
    _execute, wait, interpret = result.steps
    assert wait.args["job_id"] == Ref(step=0, field="job_id") == interpret.args["job_id"]
    dumped = result.model_dump(mode="json")
    assert dumped["steps"][1]["args"]["job_id"] == {"$ref": {"step": 0, "field": "job_id"}}
    outputs = [{"job_id": JOB, "state": "COMPLETED", "result": {"backend": "lret"}}]
    assert resolve_refs(wait.args, outputs) == {"job_id": JOB}
    nested = {"job_ids": [Ref(step=0, field="job_id"), Ref(step=1, field="result.backend")], "x": 1}
    assert resolve_refs(nested, [*outputs, outputs[0]]) == {"job_ids": [JOB, "lret"], "x": 1}
    with pytest.raises(InputError, match="no output"):
        resolve_refs(wait.args, [{"error": {"code": "CIRCUIT_UNKNOWN", "message": "no", "hint": None}}])
    with pytest.raises(InputError, match="has no nothing"):
        resolve_refs({"a": Ref(step=0, field="nothing")}, outputs)
    assert is_tool_error({"error": {"code": "X", "message": "m"}})
    assert not is_tool_error({"job_id": JOB, "error": {"code": "X", "message": "m"}})


def _plausible(value: Any) -> Any:
    if isinstance(value, Ref):
        return JOB if value.field.endswith("job_id") else "x"
    if isinstance(value, list):
        return [_plausible(v) for v in value]
    return value


def test_every_planned_step_validates_against_its_tool_input_model():
    tools = registry()
    checked = 0
    for text, memory, _ in PHRASINGS:
        result = plan(text, memory)
        assert isinstance(result, Plan)
        for step in result.steps:
            assert step.tool in tools, step.tool
            tools[step.tool].input_model.model_validate({k: _plausible(v) for k, v in step.args.items()})
            checked += 1
    assert checked >= len(PHRASINGS)


def test_defaults_match_the_registries():
    from proxima_agent.backends.registry import backend_ids
    from proxima_agent.circuits.library import LIBRARY

    assert tuple(backend_ids()) == DEFAULT_BACKENDS
    assert tuple(e.usage for e in LIBRARY.values()) == DEFAULT_CIRCUITS


def test_the_planner_imports_no_heavy_library_and_no_llm_sdk():
    code = (
        "import sys\nfrom proxima_agent.agent.planner import plan\nfrom proxima_agent.agent.answers import answer\n"
        "plan('run ghz:5 on aer-sv with 1% depolarizing noise')\n"
        "print(','.join(m for m in ('numpy', 'cirq', 'qiskit', 'pydantic_ai', 'jinja2', 'anthropic', 'openai')"
        " if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_every_intent_has_its_template():
    from typing import get_args

    from proxima_agent.agent.planner import Intent

    folder = resource_dir("prompts") / "offline"
    for intent in get_args(Intent):
        assert (folder / f"{intent}.j2").is_file(), intent
    for extra in ("decline", "error", "generic", "_macros"):
        assert (folder / f"{extra}.j2").is_file()


# --- answers from real tool outputs ---------------------------------------------------------------------------------

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _walk(value: Any, numbers: list[float], strings: list[str]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        numbers.append(float(value))
    elif isinstance(value, str):
        strings.append(value)
        if re.fullmatch(r"-?\d+(?:\.\d+)?", value):
            numbers.append(float(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            strings.append(str(k))
            _walk(v, numbers, strings)
    elif isinstance(value, list):
        numbers.append(float(len(value)))  # "5 backends": how many a tool listed
        for v in value:
            _walk(v, numbers, strings)


def _tolerance(token: str) -> float:
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals) + 1e-12


def assert_numbers_come_from(text: str, outputs: list[dict[str, Any]]) -> int:
    """Every number in TEXT is one of the outputs' numbers (or a list's length) as the templates format them (a percentage,
    milliseconds or microseconds, KiB / MiB / GiB), once the outputs' strings (ids, bitstrings, names, readings)
    are taken out. Returns how many numbers were checked."""
    numbers: list[float] = []
    strings: list[str] = []
    _walk(outputs, numbers, strings)
    for s in sorted(set(strings), key=len, reverse=True):
        if len(s) >= 2:
            text = re.sub(rf"(?<![\w.]){re.escape(s)}(?![\w])", " ", text)
    scales = (1.0, 100.0, 1e3, 1e6, 2.0**-10, 2.0**-20, 2.0**-30, 2.0**-40, 2.0**-50)
    checked = 0
    for token in NUMBER.findall(text):
        x, tol = float(token), _tolerance(token)
        assert any(abs(x - v * s) <= tol for v in numbers for s in scales), (
            f"{token} is not in the outputs:\n{text}"
        )
        checked += 1
    return checked


async def _drive(
    requests: list[str], workspace
) -> list[tuple[str, Plan | Decline, list[dict[str, Any]], str]]:
    """What the offline model's wrapper does: plan, call each tool (references resolved), answer."""
    from proxima_agent.tools.context import Runtime, ToolContext
    from proxima_agent.tools.models import ErrorInfo
    from proxima_agent.tools.registry import call_tool

    runtime = Runtime(workspace=workspace)
    memory = PlannerMemory()
    done = []
    try:
        for text in requests:
            result = plan(text, memory)
            outputs: list[dict[str, Any]] = []
            for step in result.steps if isinstance(result, Plan) else []:
                try:
                    out = await call_tool(step.tool, resolve_refs(step.args, outputs), ToolContext(runtime))
                except ProximaError as exc:
                    outputs.append({"error": ErrorInfo.of(exc).model_dump(mode="json")})
                    break
                outputs.append(out.model_dump(mode="json"))
                if step.tool == "execute":
                    update = {"last_job_id": outputs[-1]["job_id"], "last_circuit": step.args["circuit"]}
                    memory = memory.model_copy(update=update)
            done.append((text, result, outputs, answer(result, outputs)))
    finally:
        await runtime.close()
    return done


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """One conversation with the real tools on small circuits, in its own data directory."""
    home = tmp_path_factory.mktemp("planner-home")
    requests = [
        "run ghz:3 with 100 shots and seed 5 on aer-sv",
        "simulate bell on cirq-dm with 200 shots and 1% depolarizing noise",
        "status of the last job",
        "interpret the last result",
        "run ghz:3 with 300 shots and 2% depolarizing noise on lret and tell me what the noise costs in fidelity",
        "compare aer-sv and cirq-sv on bell with 400 shots",
        "will ghz:12 fit?",
        "which backend for qft:6 with 1% depolarizing noise",
        "describe grover:3 with its qasm",
        "list backends",
        "list jobs",
        "pause the last job",
        "run grovr:5",
        "run ghz:3 and explain the result",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROXIMA_DATA_DIR", str(home / "data"))
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        patch.delenv("PROXIMA_CONFIG", raising=False)
        done = asyncio.run(_drive(requests, home))
    return {text: (result, outputs, text_out) for text, result, outputs, text_out in done}


def test_every_number_in_every_answer_comes_from_the_outputs(conversation):
    checked = 0
    for text, (_result, outputs, written) in conversation.items():
        assert written.strip(), text
        checked += assert_numbers_come_from(written, outputs)
    assert checked > 50


def test_a_run_answer_gives_backend_shots_outcomes_and_time(conversation):
    _result, outputs, written = conversation["run ghz:3 with 100 shots and seed 5 on aer-sv"]
    view = outputs[0]["result"]
    assert view["backend"] == "aer-sv" and view["shots"] == 100 and view["seed"] == 5
    assert "**aer-sv**" in written and "100 shots" in written and "seed 5" in written
    for o in view["top_outcomes"]:
        assert f"| `{o['outcome']}` | {o['count']} | {100 * o['probability']:.1f} % |" in written
    total = view["timing"]["total_s"]
    assert (f"{1e3 * total:.1f} ms" if total >= 1e-3 else f"{1e6 * total:.0f} µs") in written
    assert outputs[0]["job_id"] in written


def test_a_noisy_run_without_exact_probabilities_shows_counts(conversation):
    _, outputs, written = conversation["simulate bell on cirq-dm with 200 shots and 1% depolarizing noise"]
    view = outputs[0]["result"]
    assert "cirq-dm" in written and "200 shots" in written
    for o in view["top_outcomes"][:8]:
        assert f"`{o['outcome']}` | {o['count']} |" in written


def test_the_noise_cost_answer_gives_the_fidelity_to_the_noiseless_run(conversation):
    result, outputs, written = conversation[
        "run ghz:3 with 300 shots and 2% depolarizing noise on lret and tell me what the noise costs in fidelity"
    ]
    assert [s.tool for s in result.steps] == ["execute", "wait_job", "interpret"]
    fidelity = outputs[2]["fidelity_to_ideal"]
    assert fidelity is not None and 0.5 < fidelity < 1
    assert f"**{fidelity:.4f}**" in written and outputs[2]["ideal_job"] in written


def test_a_comparison_answer_gives_its_metrics_table(conversation):
    _, outputs, written = conversation["compare aer-sv and cirq-sv on bell with 400 shots"]
    consensus = outputs[0]["consensus"]
    assert outputs[0]["verdict"] in written
    for row in consensus["ranking"]:
        assert f"| {row['rank']} | {row['label']} |" in written
    for pair in consensus["pairs"]:
        assert f"| {pair['a']} vs {pair['b']} | {pair['tvd']:.3g} | {pair['threshold']:.3g} |" in written


def test_an_estimate_answer_gives_memory_time_and_fit_per_backend(conversation):
    _, outputs, written = conversation["will ghz:12 fit?"]
    for row in outputs[0]["backends"]:
        assert f"| {row['backend']} | {row['method']} |" in written
    assert "It fits on" in written


def test_select_describe_and_lists_answer_from_their_outputs(conversation):
    _, outputs, written = conversation["which backend for qft:6 with 1% depolarizing noise"]
    assert f"**{outputs[0]['backend']}**" in written and outputs[0]["explanation"] in written
    _, outputs, written = conversation["describe grover:3 with its qasm"]
    assert (
        f"depth {outputs[0]['depth']}" in written and "```qasm" in written and outputs[0]["qasm"] in written
    )
    _, outputs, written = conversation["list backends"]
    assert all(f"| {b['id']} |" in written for b in outputs[0]["backends"])
    _, outputs, written = conversation["list jobs"]
    assert outputs[0]["jobs"] and all(f"`{j['job_id']}`" in written for j in outputs[0]["jobs"])


def test_status_and_interpret_answer_from_their_outputs(conversation):
    _, outputs, written = conversation["status of the last job"]
    assert outputs[0]["state"] == "COMPLETED" and "COMPLETED" in written and "Recent history" in written
    _, outputs, written = conversation["interpret the last result"]
    assert outputs[0]["reading"] in written
    assert f"{outputs[0]['fidelity_to_ideal']:.4f}" in written  # a noisy run: its fidelity to the ideal one


def test_a_tool_error_is_reported_with_its_hint(conversation):
    _, outputs, written = conversation["pause the last job"]
    error = outputs[0]["error"]
    assert error["code"] == "JOB_STATE"
    assert (
        f"`{error['code']}`" in written
        and error["message"] in written
        and f"Hint: {error['hint']}" in written
    )
    _, outputs, written = conversation["run grovr:5"]
    assert outputs[0]["error"]["code"] == "CIRCUIT_UNKNOWN" and "library circuits" in written


def test_a_plan_that_stops_says_what_ran_and_what_did_not():
    result = plan("run ghz:3 with 1% depolarizing noise and tell me what the noise costs in fidelity", FRESH)
    assert isinstance(result, Plan)
    error = {"error": {"code": "CIRCUIT_UNKNOWN", "message": "unknown circuit 'x'", "hint": "use ghz:N"}}
    written = answer(result, [error])
    assert (
        "**execute failed**" in written
        and "Hint: use ghz:N" in written
        and "Not run: wait_job, interpret" in written
    )
    assert "did not run" in answer(result, [])


def test_an_output_of_an_unknown_shape_is_shown_as_returned():
    result = plan("list backends", FRESH)
    assert isinstance(result, Plan)
    written = answer(result, [{"something": 42}])
    assert "42" in written and "list_backends returned" in written


def test_render_refuses_a_missing_value():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("help")
    assert json.loads(json.dumps(render("help", backends=["aer-sv"])))
