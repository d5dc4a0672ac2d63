"""Hostile input through the real front doors: every case of the corpus (tests/hostile/ and the generated cases
below) goes through the `proxima` command in a subprocess and through a real MCP client over stdio to one
`proxima mcp --workspace DIR` server. Each must answer with its documented code and a hint, print no traceback,
leave no file behind, keep the memory of the process that parsed it bounded, and (over MCP) leave the server
serving."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.cli_helpers import PROXIMA

CORPUS = Path(__file__).resolve().parent / "hostile"
RSS_LIMIT = int(1.5 * 2**30)
MAX_ECHO = 20_000  # characters of output an error may take, whatever it was given
H2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
H3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'
PASSWD_MARKERS = ("root:x:", "root:*:", "/bin/bash", "/usr/sbin/nologin")


# --- the corpus ------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One hostile input. `cli` and `mcp` say how each front door is given it (None: not through that door);
    `{file}` in them is the case's circuit file, written into the folder (`files`, `setup`) before the call."""

    id: str
    code: str
    cli: list[str] | None = None
    mcp: tuple[str, dict[str, Any]] | None = None
    mcp_code: str | None = None  # when the MCP argument check answers first (INPUT_INVALID)
    files: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    mcp_text: bool = True  # a corpus file is also sent over MCP as OpenQASM text


def _corpus_files() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.glob("*.qasm")):
        text = path.read_text()
        match = re.match(r"// expect: (\w+)", text)
        assert match, f"{path.name} does not say what it expects"
        cases.append(
            Case(
                path.stem,
                match.group(1),
                cli=["describe", path.name],
                mcp=("describe_circuit", {"circuit": path.name}),
                files={path.name: text},
                mcp_text=path.stem not in _FILE_ONLY,
            )
        )
    return cases


_FILE_ONLY = {"include-self"}  # includes a file next to itself: as text there is no "itself"


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda folder: os.mkfifo(folder / name)


def _directory(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).mkdir()


def _link_out(folder: Path) -> None:
    (folder / "etc").symlink_to("/etc")


_CHAIN = "gate g0 a { x a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; }}\n" for i in range(1, 2000))
_DEFINITIONS = "".join(f"gate d{i} a {{ x a; }}\n" for i in range(2001))


def _generated() -> list[Case]:
    file = {"cli": ["describe", "c.qasm"], "mcp": ("describe_circuit", {"circuit": "c.qasm"})}
    run = ["run", "bell", "-o", "out.json"]  # a run that must fail before it writes anything
    return [
        Case("gate-chain-2000", "CIRCUIT_TOO_LARGE", files={"c.qasm": H2 + _CHAIN + "qreg q[1];\ng1999 q[0];\n"}, **file),
        Case("gate-definitions-2001", "CIRCUIT_TOO_LARGE", files={"c.qasm": H2 + _DEFINITIONS}, **file),
        Case("file-over-1MB", "CIRCUIT_TOO_LARGE", files={"c.qasm": H2 + "// " + "x" * 2_000_000 + "\n"}, **file),
        Case("qasm3-over-100kB", "CIRCUIT_TOO_LARGE", files={"c.qasm": H3 + "qubit q;\n" + "x q;\n" * 30_000}, **file),
        Case("comment-bomb", "QASM_SYNTAX", files={"c.qasm": H2 + "qreg q[1];\n" + "/*" * 300_000}, **file),
        Case("fifo-as-circuit", "FILE_UNREADABLE", setup=_fifo("c.qasm"), **file),
        Case("directory-as-circuit", "FILE_UNREADABLE", setup=_directory("c.qasm"), **file),
        Case(
            "include-through-a-link-out", "FILE_UNREADABLE", setup=_link_out,
            files={"c.qasm": 'OPENQASM 2.0;\ninclude "etc/passwd";\n'}, **file,
        ),
        Case("mcp-path-outside-workspace", "FILE_UNREADABLE", mcp=("describe_circuit", {"circuit": "../../../etc/passwd"})),
        Case("mcp-path-too-long", "FILE_UNREADABLE", mcp=("describe_circuit", {"circuit": "a/" * 50_000 + "c.qasm"})),
        Case(
            "mcp-text-over-1MB", "INPUT_INVALID",
            mcp=("describe_circuit", {"circuit": H2 + "// " + "x" * 1_000_001}),
        ),
        # library names
        Case("ghz-billion", "CIRCUIT_PARAMETERS", cli=["describe", "ghz:1000000000"], mcp=("describe_circuit", {"circuit": "ghz:1000000000"})),
        Case("random-deep", "CIRCUIT_PARAMETERS", cli=["describe", "random:10:100000000"], mcp=("describe_circuit", {"circuit": "random:10:100000000"})),
        Case("random-over-the-operation-limit", "CIRCUIT_TOO_LARGE", cli=["describe", "random:64:2000"], mcp=("describe_circuit", {"circuit": "random:64:2000"})),
        Case("ghz-100k-digits", "CIRCUIT_PARAMETERS", cli=["describe", "ghz:" + "9" * 100_000], mcp=("describe_circuit", {"circuit": "ghz:" + "9" * 100_000})),
        Case("unknown-name-100k", "CIRCUIT_UNKNOWN", cli=["describe", "x" * 100_000], mcp=("describe_circuit", {"circuit": "x" * 100_000})),
        # noise
        Case("noise-semicolons", "NOISE_INVALID", cli=[*run, "--noise", ";;;"], mcp=("estimate_resources", {"circuit": "bell", "noise": ";;;"})),
        Case("noise-repeated-qubit", "NOISE_INVALID", cli=[*run, "--noise", "depolarizing:0.01@cx/0,0"], mcp=("estimate_resources", {"circuit": "bell", "noise": "depolarizing:0.01@cx/0,0"})),
        Case("noise-thermal-infinite", "NOISE_INVALID", cli=[*run, "--noise", "thermal:inf:1:0.1"], mcp=("estimate_resources", {"circuit": "bell", "noise": "thermal:inf:1:0.1"})),
        Case("noise-100k-garbage", "NOISE_INVALID", cli=[*run, "--noise", "q" * 100_000], mcp=("estimate_resources", {"circuit": "bell", "noise": "q" * 99_000})),
        Case(
            "noise-json-deep", "NOISE_INVALID", cli=[*run, "--noise", "deep.json"],
            mcp=("estimate_resources", {"circuit": "bell", "noise": "deep.json"}),
            files={"deep.json": '{"rules": ' + "[" * 100_000 + "]" * 100_000 + "}"},
        ),
        Case(
            "noise-fifo", "FILE_UNREADABLE", cli=[*run, "--noise", "n.json"],
            mcp=("estimate_resources", {"circuit": "bell", "noise": "n.json"}), setup=_fifo("n.json"),
        ),
        # options
        Case(
            "lret-budget-1-byte", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "memory_budget_bytes=1"],
            mcp=("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"memory_budget_bytes": 1}}),
        ),
        Case(
            "lret-budget-below-the-state", "OPTION_INVALID",
            cli=["run", "ghz:20", "-o", "out.json", "-b", "lret", "-O", "memory_budget_bytes=1000"],
            mcp=("execute", {"circuit": "ghz:20", "backend": "lret", "backend_options": {"memory_budget_bytes": 1000}}),
        ),
        Case("lret-growth-infinite", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "growth=Infinity"]),
        Case("lret-threshold-nan", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "threshold=NaN"]),
        Case(
            "lret-threshold-negative", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "threshold=-1"],
            mcp=("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"threshold": -1}}),
        ),
        Case(
            "lret-max-rank-0", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "max_rank=0"],
            mcp=("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"max_rank": 0}}),
        ),
        Case(
            "lret-precision-unknown", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "precision=quad"],
            mcp=("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"precision": "quad"}}),
        ),
        Case(
            "lret-option-name-100k", "OPTION_INVALID", cli=[*run, "-b", "lret", "-O", "k" * 100_000 + "=1"],
            mcp=("execute", {"circuit": "bell", "backend": "lret", "backend_options": {"k" * 100_000: 1}}),
            mcp_code="INPUT_INVALID",
        ),
        Case(
            "shots-2-to-the-63", "OPTION_INVALID", cli=["run", "bell", "-o", "out.json", "--shots", str(2**63)],
            mcp=("execute", {"circuit": "bell", "shots": 2**63}), mcp_code="INPUT_INVALID",
        ),
        Case("shots-over-the-cap", "OPTION_INVALID", cli=["run", "bell", "-o", "out.json", "--shots", "10000001"]),
    ]  # fmt: skip


CASES = _corpus_files() + _generated()
CLI_CASES = [pytest.param(c, id=c.id) for c in CASES if c.cli is not None]
MCP_CASES = [pytest.param(c, False, id=c.id) for c in CASES if c.mcp is not None] + [
    pytest.param(c, True, id=f"{c.id}-as-text") for c in _corpus_files() if c.mcp_text
]


def _prepare(case: Case, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in case.files.items():
        (folder / name).write_text(text)
    if case.setup is not None:
        case.setup(folder)


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def _assert_no_leak(text: str) -> None:
    for marker in PASSWD_MARKERS:
        assert marker not in text, f"file contents leaked: {marker!r}"
    assert "PROXIMA_DATA_DIR=" not in text, "the server's environment leaked"


class PeakRss:
    """The highest resident memory of a process (and its children, for the CLI) while it runs."""

    def __init__(self, process: psutil.Process, children: bool = False) -> None:
        self.process, self.children, self.peak = process, children, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.process.memory_info().rss
                if self.children:
                    rss += sum(c.memory_info().rss for c in self.process.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                return
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# --- the CLI, in a subprocess --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case", CLI_CASES)
def test_the_cli_refuses_hostile_input(case: Case, tmp_path: Path):
    folder = tmp_path / "cwd"
    _prepare(case, folder)
    before = _listing(folder)
    assert case.cli is not None
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    process = psutil.Popen(
        [*PROXIMA, *case.cli], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with PeakRss(process, children=True) as rss:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"proxima {case.id} did not finish in 120 s")
    both = out + err
    assert process.returncode == 3, both[-2000:]
    assert f"[{case.code}]" in err, err[-2000:]
    assert "hint:" in err
    assert "Traceback" not in both
    assert len(both) < MAX_ECHO, f"{len(both)} characters of output"
    _assert_no_leak(both)
    assert _listing(folder) == before, "a file was left behind"
    assert rss.peak < RSS_LIMIT, f"peak RSS {rss.peak / 2**20:.0f} MiB"


# --- MCP, one real server over stdio -------------------------------------------------------------------------------


class StdioSession:
    """A real MCP client talking to `python -m proxima_agent mcp --workspace DIR` over stdio, on an event loop
    of its own (so that one server serves the whole module while each test makes synchronous calls)."""

    def __init__(self, workspace: Path, home: Path) -> None:
        self.workspace = workspace
        self.stderr_path = home / "server-stderr.txt"
        self.env = dict(os.environ) | {
            "PROXIMA_DATA_DIR": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "share"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        self.env.pop("PROXIMA_CONFIG", None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ready: Future[Any] = Future()
        self.stop: asyncio.Event | None = None
        self.done: Future[None] = Future()
        self.client: Any = None

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop)
        self.ready.result(timeout=120)

    async def _serve(self) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "proxima_agent", "mcp", "--workspace", str(self.workspace)],
            env=self.env,
            cwd=self.workspace.parent,
        )
        try:
            with self.stderr_path.open("w") as errlog:
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    self.client = client
                    self.stop = asyncio.Event()
                    self.ready.set_result(True)
                    await self.stop.wait()
            self.done.set_result(None)
        except BaseException as exc:  # reported to the waiting test
            if not self.ready.done():
                self.ready.set_exception(exc)
            if not self.done.done():
                self.done.set_exception(exc)

    def call(self, tool: str, arguments: dict[str, Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(self.client.call_tool(tool, arguments), self.loop).result(
            timeout
        )

    def server_process(self) -> psutil.Process:
        for child in psutil.Process().children(recursive=True):
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "proxima_agent mcp" in cmdline and str(self.workspace) in cmdline:
                return child
        raise AssertionError("the MCP server process is gone")

    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
            self.done.result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StdioSession]:
    home = tmp_path_factory.mktemp("mcp-home")
    workspace = (
        tmp_path_factory.mktemp("mcp-root") / "workspace"
    )  # a parent folder for ../ cases to escape to
    workspace.mkdir()
    session = StdioSession(workspace, home)
    session.start()
    yield session
    log = session.stderr()
    session.close()
    assert "Traceback" not in log, log[-3000:]


def _text_of(result: Any) -> str:
    return "\n".join(getattr(item, "text", "") for item in result.content)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "as_text"), MCP_CASES)
def test_the_mcp_server_refuses_hostile_input(server: StdioSession, case: Case, as_text: bool):
    folder = server.workspace / case.id
    if folder.exists():
        shutil.rmtree(folder)
    _prepare(case, folder)
    assert case.mcp is not None
    tool, arguments = case.mcp
    arguments = dict(arguments)
    if as_text:
        name = arguments["circuit"]
        arguments["circuit"] = case.files[
            name
        ]  # the same program as text: includes resolve from the workspace
    elif arguments.get("circuit", "").endswith(".qasm") and "/" not in arguments["circuit"]:
        arguments["circuit"] = f"{case.id}/{arguments['circuit']}"
    if isinstance(arguments.get("noise"), str) and arguments["noise"].endswith(".json"):
        arguments["noise"] = f"{case.id}/{arguments['noise']}"
    before = _listing(server.workspace)
    errors_before = len(server.stderr())
    process = server.server_process()
    start = time.monotonic()
    with PeakRss(process) as rss:
        result = server.call(tool, arguments)
    elapsed = time.monotonic() - start
    text = _text_of(result)
    expected = case.mcp_code or case.code
    first, _, rest = text.partition("\n")
    if tool == "execute" and not result.is_error:  # an error met by the job itself: reported as its state
        assert "FAILED" in first, text[:2000]
        first, _, rest = rest.partition("\n")
    else:
        assert result.is_error, text[:2000]
    assert first.startswith(f"{expected}: "), text[:2000]
    assert rest.startswith("hint: ") and len(rest) > len("hint: "), text[:2000]
    assert "Traceback" not in text
    assert len(text) < MAX_ECHO, f"{len(text)} characters"
    _assert_no_leak(text)
    assert _listing(server.workspace) == before, "a file was left behind"
    assert rss.peak < RSS_LIMIT, f"peak server RSS {rss.peak / 2**20:.0f} MiB"
    assert elapsed < 60, f"{elapsed:.0f} s: an MCP client would have given up"
    assert "Traceback" not in server.stderr()[errors_before:]
    # still serving, and serving correctly
    follow_up = server.call("describe_circuit", {"circuit": "bell"}, timeout=60)
    assert not follow_up.is_error, _text_of(follow_up)
    assert follow_up.structured_content["num_qubits"] == 2


@pytest.mark.slow
def test_the_server_memory_is_back_in_bounds_after_the_corpus(server: StdioSession):
    """After whatever ran before (the corpus, in file order), the server holds no more than a small server does."""
    rss = server.server_process().memory_info().rss
    assert rss < 600 * 2**20, f"{rss / 2**20:.0f} MiB"
    listing = json.loads(json.dumps(sorted(_listing(server.workspace))))
    assert all(not name.endswith((".part", ".tmp")) for name in listing)


_LEGIT = {
    "sub/prog.qasm": H2 + 'include "defs.inc";\nqreg q[2];\nbell2 q[0], q[1];\n',
    "sub/defs.inc": "gate bell2 a, b { h a; cx a, b; }\n",
}


@pytest.mark.slow
def test_includes_inside_the_folder_still_work_on_both_doors(server: StdioSession, tmp_path: Path):
    """The other side of the boundary: an include next to the program is found, through both front doors."""
    from tests.cli_helpers import proxima

    for name, text in _LEGIT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        (server.workspace / "legit" / name).parent.mkdir(parents=True, exist_ok=True)
        (server.workspace / "legit" / name).write_text(text)
    result = proxima("describe", "sub/prog.qasm", "--json", cwd=tmp_path)
    assert result.code == 0, result.both
    assert json.loads(result.out)["gate_counts"] == {"h": 1, "cx": 1}
    described = server.call("describe_circuit", {"circuit": "legit/sub/prog.qasm"})
    assert not described.is_error, _text_of(described)
    assert described.structured_content["gate_counts"] == {"h": 1, "cx": 1}
