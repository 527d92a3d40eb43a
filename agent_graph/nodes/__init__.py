"""The graph's nodes, one module per family."""

from __future__ import annotations

import functools
from typing import Any, Protocol, TypeVar

from langgraph.runtime import Runtime

from agent_graph.context import Context, Services, services
from agent_graph.state import AgentState

Update_co = TypeVar("Update_co", covariant=True)


class Step(Protocol[Update_co]):
    """A node as LangGraph calls it: the state, and the run's ``runtime`` (passed by name, which a
    plain ``Callable[[AgentState, Runtime[Context]], …]`` cannot promise, so ``add_node`` refuses it)."""

    def __call__(self, state: AgentState, runtime: Runtime[Context]) -> Update_co: ...


Node = Step[dict[str, Any]]
"""A node that returns its update of the state."""


def reads_store(node: Node) -> Node:
    """Run a node that only reads the store in one read transaction (one snapshot, fewer round trips)."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        with services(runtime.context).store.unit_of_work(read_only=True):
            return node(state, runtime)

    return run


def atomic(node: Node) -> Node:
    """Run a node's store work in one transaction: it commits whole or not at all.

    Not for the send node: a mailbox outside the store must see its delivery recorded at once."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        with services(runtime.context).store.unit_of_work():
            return node(state, runtime)

    return run


def ends_run(node: Node) -> Node:
    """An :func:`atomic` node that ends the run (:func:`end_of_run`, in the same transaction)."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        env = services(runtime.context)
        with env.store.unit_of_work():
            update = node(state, runtime)
            end_of_run(env, state, runtime)
            return update

    return run


def end_of_run(env: Services, state: AgentState, runtime: Runtime[Context]) -> None:
    """The run has done what it was started for, in the caller's transaction: its email is marked
    processed (a repeated delivery is then a duplicate) and the run's row that crash recovery would
    run again is removed (``CaseAgent`` writes it; under the LangGraph server there is none). An
    act's source message is only read, never marked processed (``nodes/act.py``)."""
    if state.message_pk is not None and not state.trigger.acts:
        env.store.mark_processed(state.message_pk)
    thread_id = runtime.execution_info.thread_id if runtime.execution_info else None
    if thread_id:
        env.store.end_run(thread_id)
