"""A graph run's background work (its checkpoint writes): in the calling thread for the agent's runs
(``agent_graph/background.py``), in LangGraph's own pool for any other run."""

from __future__ import annotations

import threading
from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agent_graph.background import in_calling_thread
from agent_graph.context import Context
from agent_graph.service import CaseAgent
from tests.conftest import email


class RecordingSaver(InMemorySaver):
    """Checkpoints in memory, noting the thread each checkpoint was written in."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.fail_with = fail_with

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        self.threads.append(threading.get_ident())
        if self.fail_with is not None:
            raise self.fail_with
        return super().put(config, checkpoint, metadata, new_versions)


class Count(TypedDict):
    n: int


def counting_graph(saver: InMemorySaver) -> Any:
    builder = StateGraph(Count)
    builder.add_node("add", lambda state: {"n": state["n"] + 1})
    builder.add_edge(START, "add")
    builder.add_edge("add", END)
    return builder.compile(checkpointer=saver)


def run(graph: Any, thread: str, **config: Any) -> Any:
    return graph.invoke({"n": 1}, {"configurable": {"thread_id": thread}, **config}, durability="exit")


def test_the_agent_writes_its_checkpoints_in_the_thread_that_runs_the_email(catalog, store, clock):
    saver = RecordingSaver()
    agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock), saver)
    result = agent.process_email(email("Where is my order? It has not arrived."))
    assert result.case_id is not None
    assert saver.threads and set(saver.threads) == {threading.get_ident()}
    assert saver.list(None), "the run's checkpoint was saved"


@pytest.mark.parametrize("inside, config", [(False, {"max_concurrency": 1}), (True, {}),
                                            (True, {"max_concurrency": 4})])
def test_other_runs_write_in_langgraphs_own_background_thread(inside, config):
    saver = RecordingSaver()
    graph = counting_graph(saver)
    if inside:
        with in_calling_thread():
            values = run(graph, "t1", **config)
    else:
        values = run(graph, "t1", **config)
    assert values == {"n": 2}
    assert saver.threads and threading.get_ident() not in saver.threads


def test_in_the_calling_thread_a_run_keeps_its_result_and_its_checkpoint():
    saver = RecordingSaver()
    graph = counting_graph(saver)
    with in_calling_thread():
        assert run(graph, "t1", max_concurrency=1) == {"n": 2}
    assert set(saver.threads) == {threading.get_ident()}
    assert graph.get_state({"configurable": {"thread_id": "t1"}}).values == {"n": 2}


def test_a_checkpoint_write_that_fails_fails_the_run_in_the_calling_thread():
    graph = counting_graph(RecordingSaver(fail_with=OSError("disk full")))
    with in_calling_thread(), pytest.raises(OSError, match="disk full"):
        run(graph, "t1", max_concurrency=1)
