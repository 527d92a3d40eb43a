"""The graph's nodes, one module per family."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agent_graph.context import Context, Services, services
from agent_graph.state import AgentState

Node = Callable[[AgentState, Runtime[Context]], dict[str, Any]]


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
    """An :func:`atomic` node that ends the run: the email it answered is marked processed in the
    same transaction as the node's own writes."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        env = services(runtime.context)
        with env.store.unit_of_work():
            update = node(state, runtime)
            mark_answered(env, state)
            return update

    return run


def mark_answered(env: Services, state: AgentState) -> None:
    """The run has done what its email called for; a repeated delivery of it is then a duplicate."""
    if state.message_pk is not None:
        env.store.mark_processed(state.message_pk)
