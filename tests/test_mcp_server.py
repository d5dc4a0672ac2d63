"""The MCP server in memory, through the SDK's own client: every tool (real simulations in real worker
processes), every resource and prompt, structured output checked against the advertised schemas, consent by
elicitation in both protocol eras, and bad input answered with a coded tool error while the server serves on."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import psutil
import pytest
from mcp_types import ElicitResult

from proxima_agent.paths import resource_dir
from proxima_agent.tools.registry import registry, tool_doc
from proxima_agent.tools.skills import load_skills
from tests.mcp_helpers import config, run, serving, until_state

LONG = {"circuit": "ghz:15", "backend": "lret", "noise": "amplitude_damping:0.001;phase_damping:0.001"}


def test_every_tool_has_its_file_and_every_file_its_tool():
    files = {p.stem for p in resource_dir("tools").glob("*.md") if p.name != "README.md"}
    assert files == set(registry())
    for name in registry():
        doc = tool_doc(name)
        assert doc.title and len(doc.description) > 80, name


def test_listed_tools_carry_the_registry_schemas_docs_and_annotations():
    async def main():
        async with serving() as checked:
            tools = {t.name: t for t in (await checked.client.list_tools()).tools}
        assert set(tools) == set(registry())
        for name, spec in registry().items():
            tool, doc = tools[name], tool_doc(name)
            assert tool.description == doc.description and tool.title == doc.title
            assert tool.annotations.read_only_hint == doc.annotations.read_only
            assert tool.annotations.destructive_hint == doc.annotations.destructive
            assert set(tool.input_schema["properties"]) == set(spec.input_model.model_fields)
            required = {n for n, f in spec.input_model.model_fields.items() if f.is_required()}
            assert set(tool.input_schema.get("required", [])) == required
            assert (
                tool.output_schema["properties"].keys()
                == spec.output_model.model_json_schema()["properties"].keys()
            )
        assert tools["abort"].annotations.destructive_hint and tools["list_jobs"].annotations.read_only_hint

    run(main())


def test_read_only_tools_give_computed_figures():
    async def main():
        async with serving() as checked:
            listing = await checked.ok("list_backends", {"check": True})
            described = await checked.ok("describe_circuit", {"circuit": "ghz:5", "qasm": 3})
            estimate = await checked.ok(
                "estimate_resources", {"circuit": "qft:20", "noise": "depolarizing:0.01"}
            )
            noiseless = await checked.ok("select_backend", {"circuit": "qft:8"})
            restricted = await checked.ok(
                "select_backend",
                {"circuit": "ghz:4", "noise": "depolarizing:0.01", "backends": ["cirq-dm", "lret"]},
            )
        rows = {b["id"]: b for b in listing["backends"]}
        assert set(rows) == {"cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret"}
        assert all(b["self_test"]["healthy"] for b in rows.values())
        assert rows["aer-sv"]["max_qubits_here"] > rows["aer-dm"]["max_qubits_here"] > 0
        assert described["gate_counts"] == {"cx": 4, "h": 1} and described["num_qubits"] == 5
        assert described["qasm"].startswith("OPENQASM 3")
        dm = next(r for r in estimate["backends"] if r["backend"] == "aer-dm")
        assert dm["memory_bytes"] >= 16 * 4**20 and not dm["feasible"]  # 16 TiB: refused with the reason
        assert "needs" in dm["reason"]
        assert noiseless["backend"] in ("aer-sv", "cirq-sv") and noiseless["rule"] == "2"
        assert restricted["backend"] in ("cirq-dm", "lret") and restricted["runner_up"] in ("cirq-dm", "lret")

    run(main())


def test_execute_returns_the_result_with_small_parts_inline_and_large_ones_linked():
    async def main():
        async with serving() as checked:
            args = {"circuit": "bell", "backend": "aer-sv", "shots": 1000, "seed": 7}
            first = await checked.ok("execute", args | {"probabilities": True, "return_state": True})
            again = await checked.ok("execute", args)
            job = first["job_id"]
            state = np.load(
                io.BytesIO(await checked.blob_resource(f"proxima://results/{job}/statevector.npy"))
            )
            stored = await checked.json_resource(f"proxima://results/{job}")
            csv_text = await checked.text_resource(f"proxima://results/{job}/counts.csv")
            wide = await checked.ok(
                "execute", {"circuit": "random:10:6:1", "backend": "aer-sv", "shots": 4000}
            )
            wide_csv = await checked.text_resource(f"proxima://results/{wide['job_id']}/counts.csv")
            status = await checked.json_resource(f"proxima://jobs/{job}")
        result = first["result"]
        assert first["state"] == "COMPLETED" and first["ended"]
        assert set(result["counts"]) == {"00", "11"} and sum(result["counts"].values()) == 1000
        assert result["counts"] == again["result"]["counts"]  # same seed, same backend: same counts
        assert result["probabilities"] == pytest.approx({"00": 0.5, "11": 0.5})
        assert {link["uri"].rsplit("/", 1)[-1] for link in result["links"]} == {job, "statevector.npy"}
        np.testing.assert_allclose(np.abs(state) ** 2, [0.5, 0, 0, 0.5], atol=1e-12)
        assert stored["counts"] == result["counts"] and stored["seed"] == 7
        assert (
            csv_text.splitlines()[0] == "outcome,count,frequency,probability"
            and len(csv_text.splitlines()) == 3
        )
        big = wide["result"]
        assert big["counts"] is None and big["distinct_outcomes"] > 256 and len(big["top_outcomes"]) == 16
        assert any(link["uri"].endswith("/counts.csv") for link in big["links"])
        rows = [line.split(",") for line in wide_csv.splitlines()[1:]]
        assert len([r for r in rows if int(r[1]) > 0]) == big["distinct_outcomes"]  # every outcome seen...
        assert sum(int(r[1]) for r in rows) == 4000 and sum(float(r[3]) for r in rows) == pytest.approx(1.0)
        assert status["state"] == "COMPLETED" and [t["new"] for t in status["transitions"]][-1] == "COMPLETED"

    run(main())


def test_execute_without_backend_says_why_and_lret_reports_its_bound():
    async def main():
        async with serving() as checked:
            chosen = await checked.ok("execute", {"circuit": "ghz:3", "shots": 200})
            lret = await checked.ok(
                "execute",
                {
                    "circuit": "ghz:6",
                    "backend": "lret",
                    "noise": "depolarizing:0.01",
                    "observables": ["ZZIIII"],
                },
            )
        assert chosen["backend"] in ("aer-sv", "cirq-sv") and "noiseless" in chosen["selection"]
        report = lret["result"]["lret"]
        assert report["final_rank"] >= 1 and report["trace_distance_bound"] <= 1e-4
        assert report["trace_distance_bound"] == report["discarded_weight"]
        assert 0.9 < lret["result"]["expectations"]["ZZIIII"] <= 1.0

    run(main())


def test_a_long_job_is_followed_paused_resumed_and_gives_the_uninterrupted_result():
    async def main():
        async with serving() as checked:
            started = await checked.ok("execute", LONG | {"seed": 5, "shots": 2000, "wait_seconds": 0})
            job = started["job_id"]
            assert started["state"] == "EXECUTING" and not started["ended"] and "wait_job" in started["next"]
            await until_progress(checked, job, 5)
            frozen = await checked.ok("pause", {"job_id": job})
            assert frozen["state"] == "PAUSED" and frozen["paused_by"] == "freeze"
            worker = psutil.Process((await checked.ok("job_status", {"job_id": job}))["worker_pid"])
            cpu = sum(worker.cpu_times()[:2])
            await asyncio.sleep(1.0)
            assert sum(worker.cpu_times()[:2]) - cpu < 0.05  # frozen: no CPU
            await checked.ok("resume", {"job_id": job})
            suspended = await checked.ok("pause", {"job_id": job, "mode": "suspend"})
            assert suspended["state"] == "PAUSED" and suspended["paused_by"] == "suspend"
            assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE  # memory freed
            await checked.ok("resume", {"job_id": job})
            updates: list[tuple[float, float | None]] = []

            async def progress(done: float, total: float | None, message: str | None) -> None:
                updates.append((done, total))

            done = await checked.ok(
                "wait_job", {"job_id": job, "wait_seconds": 50}, progress_callback=progress
            )
            whole = await checked.ok("execute", LONG | {"seed": 5, "shots": 2000, "wait_seconds": 50})
            status = await checked.ok("job_status", {"job_id": job})
        assert done["state"] == "COMPLETED" and whole["state"] == "COMPLETED"
        assert done["result"]["counts"] == whole["result"]["counts"]
        assert updates and updates == sorted(updates) and updates[-1][1] == done["progress"]["total"]
        assert status["checkpoints"] == []  # deleted once the job completed (engine.checkpoint_retention)
        assert any(
            t["new"] == "PAUSED" and "suspended at checkpoint" in t["reason"] for t in status["transitions"]
        )

    run(main())


async def until_progress(checked, job: str, steps: int) -> None:
    for _ in range(600):
        view = await checked.ok("job_status", {"job_id": job})
        if view["progress"]["done"] >= steps:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job} made no progress")


def test_checkpoint_rollback_and_abort_through_tools():
    async def main():
        async with serving() as checked:
            job = (await checked.ok("execute", LONG | {"seed": 3, "wait_seconds": 0}))["job_id"]
            await until_progress(checked, job, 5)
            point = await checked.ok("checkpoint", {"job_id": job})
            assert point["checkpoint"]["number"] == 1 and point["checkpoint"]["position"] >= 5
            rolled = await checked.ok("rollback", {"job_id": job, "number": 1})
            assert rolled["state"] == "EXECUTING"
            done = await checked.ok("wait_job", {"job_id": job, "wait_seconds": 50})
            whole = await checked.ok("execute", LONG | {"seed": 3, "wait_seconds": 50})
            victim = (await checked.ok("execute", LONG | {"seed": 4, "wait_seconds": 0}))["job_id"]
            await until_progress(checked, victim, 2)
            pid = (await checked.ok("job_status", {"job_id": victim}))["worker_pid"]
            aborted = await checked.ok("abort", {"job_id": victim})
            again = await checked.error("abort", {"job_id": victim})
            listed = await checked.ok("list_jobs", {"states": ["ABORTED"]})
        assert (
            done["result"]["counts"] == whole["result"]["counts"]
        )  # rollback then completion = uninterrupted
        assert aborted["state"] == "ABORTED" and aborted["error"]["code"] == "JOB_ABORTED"
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert again["code"] == "JOB_STATE"
        assert [j["job_id"] for j in listed["jobs"]] == [victim]

    run(main())


def test_a_cancelled_wait_leaves_the_job_running_unless_asked_to_abort():
    async def main():
        async with serving() as checked:
            for abort_on_cancel, expected in ((False, {"EXECUTING", "COMPLETED"}), (True, {"ABORTED"})):
                args = LONG | {"seed": 2, "wait_seconds": 50, "abort_on_cancel": abort_on_cancel}
                call = asyncio.ensure_future(checked.client.call_tool("execute", args))
                job = await started_job(checked)
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call
                view = await until_state(checked, job, expected, timeout=10)
                assert view["state"] in expected
                if view["state"] == "EXECUTING":
                    await checked.ok("abort", {"job_id": job})

    run(main())


async def started_job(checked) -> str:
    for _ in range(500):
        running = (await checked.ok("list_jobs", {"states": ["EXECUTING"]}))["jobs"]
        if running and running[0]["progress"]["done"] >= 1:
            return running[0]["job_id"]
        await asyncio.sleep(0.02)
    raise AssertionError("no job started")


def test_compare_runs_backends_and_reaches_a_verdict():
    async def main():
        async with serving() as checked:
            compared = await checked.ok(
                "compare",
                {"circuit": "ghz:3", "noise": "depolarizing:0.02", "shots": 4000, "seed": 9,
                 "backends": ["aer-dm", "cirq-dm", "lret", "aer-sv"], "wait_seconds": 50},
            )  # fmt: skip
            ids = [j["job_id"] for j in compared["jobs"]]
            again = await checked.ok("compare", {"job_ids": ids[:2]})
            too_big = await checked.error("compare", {"circuit": "ghz:16", "backends": ["aer-dm", "cirq-dm"]})
        consensus = compared["consensus"]
        assert consensus["agree"] and compared["verdict"].startswith("all 4 backends agree")
        exact = [p for p in consensus["pairs"] if p["exact_a"] and p["exact_b"]]
        assert exact and all(p["tvd"] < 1e-6 for p in exact)  # density matrices agree exactly
        assert sorted(r["rank"] for r in consensus["ranking"]) == [1, 2, 3, 4]
        assert {j["result"]["seed"] for j in compared["jobs"]} == {9}
        assert again["consensus"]["pairs"][0]["tvd"] == pytest.approx(consensus["pairs"][0]["tvd"])
        assert too_big["code"] == "INPUT_INVALID" and "needs" in too_big["message"]

    run(main())


def test_compare_names_a_backend_that_disagrees():
    async def main():
        async with serving() as checked:
            ids = []
            for noise in (None, None, "depolarizing:0.3"):
                view = await checked.ok("execute", {"circuit": "ghz:3", "backend": "aer-dm", "noise": noise})
                ids.append(view["job_id"])
            compared = await checked.ok("compare", {"job_ids": ids})
        consensus = compared["consensus"]
        assert not consensus["agree"] and consensus["outliers"] == ["aer-dm#3"]
        assert consensus["ranking"][-1]["label"] == "aer-dm#3" and "disagrees" in compared["verdict"]

    run(main())


def test_interpret_a_job_a_comparison_and_a_file(tmp_path: Path):
    from proxima_agent.analysis.export import write_result
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build

    result = get_backend("aer-sv").run(build("ghz:3"), RunOptions(shots=1000, seed=1))
    write_result(result, tmp_path / "ghz.csv")

    async def main():
        async with serving(workspace=tmp_path) as checked:
            noisy = await checked.ok(
                "execute",
                {"circuit": "bell", "backend": "aer-dm", "noise": "depolarizing:0.1", "return_state": True},
            )
            job = await checked.call("interpret", {"job_id": noisy["job_id"]})
            clean = await checked.ok("execute", {"circuit": "bell", "backend": "aer-dm"})
            both = await checked.call("interpret", {"job_ids": [noisy["job_id"], clean["job_id"]]})
            from_file = await checked.ok("interpret", {"file": "ghz.csv", "chart": False})
        read = job.structured_content
        assert read["purity"] == pytest.approx(
            np.trace(np.linalg.matrix_power(purity_rho(), 2)).real, abs=1e-9
        )
        assert 0.8 < read["fidelity_to_ideal"] < 0.999 and read["ideal_job"]
        assert "bell" in read["reading"] and f"{read['purity']:.4f}" in read["reading"]
        assert [c.type for c in job.content] == ["text", "image"]
        assert job.content[1].mime_type == "image/png"
        assert both.structured_content["comparison"]["agree"] is False
        stats = from_file["statistics"]
        assert (
            stats["source"] == "exact" and stats["shots"] == 1000
        )  # the file has aer-sv's exact probabilities
        assert stats["parity"] == pytest.approx(0.0, abs=1e-9)  # 000 and 111 equally likely: <ZZZ> = 0
        assert {t["outcome"] for t in stats["top"]} == set(result.counts) == {"000", "111"}

    run(main())


def purity_rho() -> np.ndarray:
    """The density matrix the noisy bell above must have: aer-dm run directly, for an independent figure."""
    from proxima_agent.backends.base import RunOptions
    from proxima_agent.backends.registry import get_backend
    from proxima_agent.circuits.library import build
    from proxima_agent.circuits.noise import parse_noise

    options = RunOptions(shots=10, seed=1, noise=parse_noise("depolarizing:0.1"), return_state=True)
    return get_backend("cirq-dm").run(build("bell"), options).density_matrix


def test_bad_input_is_a_coded_tool_error_and_the_server_serves_on(tmp_path: Path):
    outside = tmp_path.parent / "outside.qasm"
    outside.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    cases = [
        ("describe_circuit", {"circuit": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];'},
         "QASM_SYNTAX"),
        ("execute", {"circuit": "bell", "backend": "no-such-sim"}, "BACKEND_UNKNOWN"),
        ("execute", {"circuit": "bell", "shots": -5}, "INPUT_INVALID"),
        ("execute", {"circuit": "bell", "shots": "many"}, "INPUT_INVALID"),
        ("execute", {"circuit": "bell", "seed": [1, 2]}, "INPUT_INVALID"),
        ("execute", {"circuit": "bell", "surprise": 1}, "INPUT_INVALID"),
        ("execute", {"circuit": "ghz:40", "backend": "aer-sv"}, "RESOURCES_INSUFFICIENT"),
        ("execute", {"circuit": "bell", "noise": "depolarizing:1.5"}, "NOISE_INVALID"),
        ("execute", {"circuit": "ghz:3", "backend": "aer-sv", "observables": ["ZZZ"]}, "BACKEND_UNSUPPORTED"),
        ("describe_circuit", {"circuit": str(outside)}, "FILE_UNREADABLE"),
        ("describe_circuit", {"circuit": "../outside.qasm"}, "FILE_UNREADABLE"),
        ("describe_circuit", {"circuit": "nosuch:3"}, "CIRCUIT_UNKNOWN"),
        ("describe_circuit", {"circuit": "OPENQASM 2.0;\n" + "// padding\n" * 100_000}, "INPUT_INVALID"),
        ("job_status", {"job_id": "no-such-job"}, "JOB_UNKNOWN"),
        ("job_status", {"job_id": "../../etc/passwd"}, "INPUT_INVALID"),
        ("interpret", {"file": "missing.csv"}, "FILE_UNREADABLE"),
        ("interpret", {"job_id": "x", "file": "y.csv"}, "INPUT_INVALID"),
    ]  # fmt: skip

    async def main():
        async with serving(workspace=workspace) as checked:
            for name, arguments, code in cases:
                error = await checked.error(name, arguments)
                assert error["code"] == code, (name, arguments, error)
                assert error["hint"], (name, error)
            finished = await checked.ok("execute", {"circuit": "bell", "backend": "aer-sv"})
            paused = await checked.error("pause", {"job_id": finished["job_id"]})
            refused = await checked.error("execute", {"circuit": "ghz:40", "backend": "aer-sv"})
            assert (await checked.ok("describe_circuit", {"circuit": "bell"}))["num_qubits"] == 2
        assert paused["code"] == "JOB_STATE"
        assert (
            "force=true" in refused["hint"]
            and refused["context"]["needed_bytes"] > refused["context"]["usable_bytes"]
        )

    run(main())


def test_qasm_syntax_error_names_line_and_column():
    async def main():
        async with serving() as checked:
            return await checked.error(
                "describe_circuit",
                {"circuit": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];'},
            )

    error = run(main())
    assert error["message"].startswith("<qasm>:5:1: OpenQASM 2 syntax error: needed ';'")
    assert (error["context"]["line"], error["context"]["column"]) == (5, 1)


# A machine with almost no usable memory (margin 99.99 %): every run is refused by the estimate, so consent decides.
TIGHT = config(estimate={"memory_margin": 0.9999})
ASK = {"circuit": "bell", "backend": "aer-sv", "shots": 100}


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 (input_required) and the 2025 handshake era
@pytest.mark.parametrize("accept", [True, False])
def test_consent_is_asked_by_elicitation_and_recorded(mode: str, accept: bool):
    asked: list[str] = []

    async def elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"force": accept})

    async def main():
        async with serving(TIGHT, elicitation_callback=elicit, mode=mode) as checked:
            result = await checked.call("execute", ASK)
            if accept:
                status = await checked.ok("job_status", {"job_id": result.structured_content["job_id"]})
                return result, status["consent"]
            return result, None

    result, consent = run(main())
    assert len(asked) == 1 and "may not fit in memory" in asked[0] and "Run it anyway" in asked[0]
    if accept:
        assert not result.is_error and result.structured_content["state"] == "COMPLETED"
        assert consent[0]["answered_by"] == "MCP client (elicitation: force=True)"
        assert consent[0]["answer"]["option"] == "force"
    else:
        assert result.is_error and result.structured_content is None
        assert result.content[0].text.startswith("RESOURCES_INSUFFICIENT: ")


def test_without_elicitation_the_refusal_names_force_and_force_is_recorded():
    async def main():
        async with serving(TIGHT) as checked:
            refused = await checked.error("execute", ASK)
            forced = await checked.ok("execute", ASK | {"force": True})
            status = await checked.ok("job_status", {"job_id": forced["job_id"]})
            refused_job = (await checked.ok("list_jobs", {"states": ["FAILED"]}))["jobs"][0]["job_id"]
            refused_status = await checked.ok("job_status", {"job_id": refused_job})
        assert (
            "force=true" in refused["hint"]
            and refused["context"]["usable_bytes"] < refused["context"]["needed_bytes"]
        )
        assert forced["state"] == "COMPLETED" and forced["notices"][0].startswith(
            "forced past the memory check"
        )
        assert status["consent"][0]["answered_by"] == "explicit force (--force / force=true)"
        assert refused_status["consent"][0]["answer"]["option"] == "refuse"
        assert "without elicitation" in refused_status["consent"][0]["answered_by"]

    run(main())


def test_resources_serve_the_library_and_refuse_unknown_ids():
    from mcp.shared.exceptions import MCPError

    from proxima_agent.circuits.qasm import from_qasm

    async def main():
        async with serving() as checked:
            templates = {
                t.uri_template for t in (await checked.client.list_resource_templates()).resource_templates
            }
            static = {str(r.uri) for r in (await checked.client.list_resources()).resources}
            backends = await checked.json_resource("proxima://backends")
            library = await checked.json_resource("proxima://circuits")
            qasm = await checked.text_resource("proxima://circuits/ghz:4")
            with pytest.raises(MCPError) as missing:
                await checked.client.read_resource("proxima://results/no-such-job")
            with pytest.raises(MCPError) as unknown:
                await checked.client.read_resource("proxima://circuits/nosuch:3")
            return templates, static, backends, library, qasm, missing.value, unknown.value

    templates, static, backends, library, qasm, missing, unknown = run(main())
    assert templates == {
        "proxima://circuits/{name}", "proxima://jobs/{job_id}", "proxima://results/{job_id}",
        "proxima://results/{job_id}/counts.csv", "proxima://results/{job_id}/{array}.npy",
    }  # fmt: skip
    assert static == {"proxima://backends", "proxima://circuits"}
    assert {b["id"] for b in backends["backends"]} == {"cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret"}
    assert {e["usage"].split(":")[0] for e in library} >= {
        "bell",
        "ghz",
        "qft",
        "random",
        "grover",
        "w",
        "qaoa",
    }
    assert from_qasm(qasm).num_qubits == 4
    assert "JOB_UNKNOWN" in missing.error.message and "CIRCUIT_UNKNOWN" in unknown.error.message


def test_skills_are_served_as_prompts():
    async def main():
        async with serving() as checked:
            prompts = {p.name: p for p in (await checked.client.list_prompts()).prompts}
            got = await checked.client.get_prompt(
                "compare-backends", {"circuit": "qft:6", "noise": "depolarizing:0.01"}
            )
            return prompts, got

    prompts, got = run(main())
    assert (
        set(prompts) == {s.name for s in load_skills()} >= {"compare-backends", "noise-study", "will-it-fit"}
    )
    assert all(p.description for p in prompts.values())
    assert {a.name for a in prompts["compare-backends"].arguments} >= {"circuit"}
    text = got.messages[0].content.text
    assert "compare" in text and "circuit: qft:6" in text and "noise: depolarizing:0.01" in text


def test_json_noise_object_and_workspace_files(tmp_path: Path):
    (tmp_path / "noise.json").write_text(json.dumps({"rules": [{"channel": {"kind": "bit_flip", "p": 1.0}}]}))
    (tmp_path / "flip.qasm").write_text(
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[0];\nmeasure q -> c;\n'
    )

    async def main():
        async with serving(workspace=tmp_path) as checked:
            plain = await checked.ok("execute", {"circuit": "flip.qasm", "backend": "aer-dm", "shots": 50})
            as_object = await checked.ok(
                "execute",
                {"circuit": "flip.qasm", "backend": "aer-dm", "shots": 50,
                 "noise": {"rules": [{"channel": {"kind": "bit_flip", "p": 1.0}, "gates": ["x"]}]}},
            )  # fmt: skip
            as_file = await checked.ok(
                "execute", {"circuit": "flip.qasm", "backend": "aer-dm", "noise": "noise.json"}
            )
        assert plain["result"]["counts"] == {"01": 50}  # qubit 0 is the rightmost bit
        assert as_object["result"]["counts"] == {"00": 50}  # the x is undone by a certain flip after it
        assert set(as_file["result"]["counts"]) == {"00"}

    run(main())
