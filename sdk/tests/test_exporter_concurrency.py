"""Runs going on at once, in threads or asyncio tasks, stay apart."""

import asyncio
import threading
from collections import defaultdict

import charm_studio
from charm_studio import StudioExporter

STEPS = 30


def by_run(events: list[dict]) -> dict[str, list[dict]]:
    runs = defaultdict(list)
    for event in events:
        runs[event["run_id"]].append(event)
    return {run_id: sorted(evs, key=lambda e: e["seq"]) for run_id, evs in runs.items()}


def assert_runs_apart(studio, names: list[str]) -> None:
    """Each run has exactly its own tokens and tools, with seq 0, 1, 2... and no gap."""
    assert charm_studio.flush(timeout=5)
    runs = by_run(studio.events)
    assert len(runs) == len(names)
    seen = set()
    for events in runs.values():
        assert [e["seq"] for e in events] == list(range(len(events)))
        name = events[0]["data"]["inputs"]["input"]
        seen.add(name)
        tokens = [e["data"]["token"] for e in events if e["type"] == "llm_new_token"]
        assert tokens == [f"{name}-{n}" for n in range(STEPS)]
        tools = {e["data"]["tool_name"] for e in events if e["type"].startswith("tool_")}
        assert tools == {f"tool-{name}"}
        spans = [e["data"]["span_id"] for e in events if e["type"].startswith("tool_")]
        assert spans == [f"span-{n // 2 + 1}" for n in range(2 * STEPS)]
        calls = [e["data"]["call_id"] for e in events if e["type"] == "llm_new_token"]
        assert calls == [f"call-{n + 1}" for n in range(STEPS)]
        assert events[-1]["type"] == "run_end"
    assert seen == set(names)


def one_step(exporter: StudioExporter, name: str, n: int) -> None:
    exporter.on_llm_new_token(token=f"{name}-{n}")
    exporter.on_tool_start(tool_name=f"tool-{name}", input_str=str(n))
    exporter.on_tool_end(tool_name=f"tool-{name}", output=str(n))


def run_in_thread(exporter: StudioExporter, name: str, barrier: threading.Barrier) -> None:
    exporter.on_run_start(run_id="local", inputs={"input": name})
    barrier.wait()
    for n in range(STEPS):
        one_step(exporter, name, n)
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": name})


def run_threads(exporters: list[StudioExporter], names: list[str]) -> None:
    barrier = threading.Barrier(len(names))
    threads = [
        threading.Thread(target=run_in_thread, args=(exporter, name, barrier))
        for exporter, name in zip(exporters, names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def test_runs_in_threads_with_an_exporter_each_stay_apart(studio):
    names = [f"t{n}" for n in range(6)]
    run_threads([StudioExporter() for _ in names], names)

    assert_runs_apart(studio, names)


def test_runs_in_threads_sharing_one_exporter_stay_apart(studio):
    names = [f"t{n}" for n in range(6)]
    shared = StudioExporter()
    run_threads([shared] * len(names), names)

    assert_runs_apart(studio, names)


async def run_in_task(exporter: StudioExporter, name: str) -> None:
    exporter.on_run_start(run_id="local", inputs={"input": name})
    for n in range(STEPS):
        await asyncio.sleep(0)  # let the other runs interleave with this one
        one_step(exporter, name, n)
    await asyncio.to_thread(
        exporter.on_run_end, run_id="local", outputs={"status": "success", "output": name}
    )


def test_runs_in_asyncio_tasks_sharing_one_exporter_stay_apart(studio):
    names = [f"a{n}" for n in range(6)]
    shared = StudioExporter()

    async def main() -> None:
        await asyncio.gather(*(run_in_task(shared, name) for name in names))

    # A loop of its own, in a thread of its own: another test's loop may be running here.
    worker = threading.Thread(target=asyncio.run, args=(main(),))
    worker.start()
    worker.join()

    assert_runs_apart(studio, names)


def test_a_thread_the_agent_starts_reports_to_the_run_of_its_exporter(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "main"})
    # A plain thread does not inherit the context: the exporter's last run is used.
    worker = threading.Thread(target=exporter.on_llm_new_token, kwargs={"token": "from a thread"})
    worker.start()
    worker.join()
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": ""})

    assert charm_studio.flush(timeout=5)
    assert len(by_run(studio.events)) == 1
    assert [e["data"].get("token") for e in studio.events][1] == "from a thread"


def test_a_second_exporter_made_inside_a_run_reports_to_that_run(studio):
    exporter = StudioExporter()
    exporter.on_run_start(run_id="local", inputs={"input": "main"})
    StudioExporter().on_agent_action(tool="search", tool_input="inside the run")
    exporter.on_run_end(run_id="local", outputs={"status": "success", "output": ""})

    assert charm_studio.flush(timeout=5)
    assert [e["type"] for e in studio.events] == ["run_start", "agent_action", "run_end"]
    assert len(by_run(studio.events)) == 1
