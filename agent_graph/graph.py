"""The case agent's graph: wiring only. Read it top to bottom.

    ingest ─┬─ automatic/duplicate ─> set_aside
            ├─ tick ─> decide_on_clock ─┐
            ├─ act resolve ─> act ──────┤   (an act done before: the run ends, or pauses at its review)
            ├─ act enrich ─> act ─> understand ─> update_only
            └─ email ─> understand + decide ──┤
                                              guard ─┬─ compose ─┬─ review ─┬─ send
                                                     │           │          └─ route
                                                     │           ├─ send
                                                     │           └─ route (template failed)
                                                     ├─ consult (the intent's custom agent) ─┬─ compose
                                                     │                                       └─ route / update_only
                                                     ├─ resolve / route / close / update_only
                                                     └─ nothing due: the run ends

Every path ends in a node that marks its email processed and ends the run (``nodes.end_of_run``),
or pauses at review.
A node with a router runs it on its own output and goes on (:func:`routed`): a conditional
edge is a LangGraph step of its own that reads the whole state again (README, "Performance").
For the same reason, on an email the decision table runs in the understanding node's step
(:func:`then_decide`): it always follows the understanding there, and needs nothing between.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agent_graph.context import Context
from agent_graph.domain import Action
from agent_graph.nodes import Node, Step
from agent_graph.nodes.act import act
from agent_graph.nodes.case_actions import close, resolve, route, update_only
from agent_graph.nodes.custom_agent import consult, consults_custom_agent
from agent_graph.nodes.decision import decide, decide_on_clock
from agent_graph.nodes.email import compose, review, send
from agent_graph.nodes.guard import guard
from agent_graph.nodes.intake import ingest, set_aside
from agent_graph.nodes.understanding import understand
from agent_graph.state import AgentInput, AgentState, Delivery, Trigger


def after_ingest(state: AgentState) -> str:
    if state.trigger is Trigger.TICK:
        return "decide_on_clock"
    if state.trigger.acts:
        return "act"
    if state.duplicate or state.automatic_reason or state.case_id is None:
        return "set_aside"
    return "understand"


def after_act(state: AgentState) -> str:
    if state.draft_id is not None:  # this act was done before, and its draft still waits for review
        return "review"
    if state.outcome is not None:  # this act was done before
        return END
    return "understand" if state.trigger is Trigger.ENRICH else "guard"


def after_understand(state: AgentState) -> str:
    return "update_only" if state.trigger is Trigger.ENRICH else "guard"


def then_decide(node: Node) -> Node:
    """The node, then the decision table on the updated state (except on an enrich act, which only
    reads the email into the case's fields): both updates, in one step."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
        update = node(state, runtime)
        if state.trigger is Trigger.ENRICH:
            return update
        return {**update, **decide(state.model_copy(update=update), runtime)}

    return run


def after_guard(state: AgentState, runtime: Runtime[Context]) -> str:
    if consults_custom_agent(state, runtime):
        return "consult"
    return carry_out(state)


def carry_out(state: AgentState) -> str:
    """The node that carries out the plan."""
    plan = state.plan
    if plan is None:
        return END
    if plan.action.sends_email:
        return "compose"
    return {Action.RESOLVE_CASE: "resolve", Action.ROUTE_TO_REP: "route", Action.CLOSE_CASE: "close",
            Action.UPDATE_ONLY: "update_only"}.get(plan.action, END)


def after_compose(state: AgentState) -> str:
    assert state.plan is not None
    if state.plan.action is Action.ROUTE_TO_REP:
        return "route"
    return "review" if state.plan.delivery is Delivery.REVIEW else "send"


def after_review(state: AgentState) -> str:
    assert state.plan is not None
    return "route" if state.plan.action is Action.ROUTE_TO_REP else "send"


Router = Callable[[AgentState, Runtime[Context]], str]


def pure(router: Callable[[AgentState], str]) -> Router:
    """A router that reads only the state (most do: they are unit-tested as plain functions)."""
    return lambda state, runtime: router(state)


def routed(node: Node, router: Router) -> Step[Command[str]]:
    """The node, then its router on the updated state, in one step."""

    @functools.wraps(node)
    def run(state: AgentState, runtime: Runtime[Context]) -> Command[str]:
        update = node(state, runtime)
        return Command(update=update, goto=router(state.model_copy(update=update), runtime))

    return run


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None
                ) -> CompiledStateGraph[AgentState, Context, AgentInput, AgentState]:
    """Compile the agent. Pass a checkpointer for pausing at reviews (the server brings its own)."""
    builder = StateGraph(AgentState, context_schema=Context, input_schema=AgentInput)
    builder.add_node("ingest", routed(ingest, pure(after_ingest)),
                     destinations=("set_aside", "understand", "decide_on_clock", "act"))
    builder.add_node("act", routed(act, pure(after_act)), destinations=("understand", "guard", "review", END))
    builder.add_node("set_aside", set_aside)
    builder.add_node("understand", routed(then_decide(understand), pure(after_understand)),
                     destinations=("guard", "update_only"))
    builder.add_node("decide_on_clock", decide_on_clock)
    builder.add_node("guard", routed(guard, after_guard),
                     destinations=("consult", "compose", "resolve", "route", "close", "update_only", END))
    builder.add_node("consult", routed(consult, pure(carry_out)), destinations=("compose", "route", "update_only"))
    builder.add_node("compose", routed(compose, pure(after_compose)), destinations=("review", "send", "route"))
    builder.add_node("review", routed(review, pure(after_review)), destinations=("send", "route"))
    builder.add_node("send", send)
    builder.add_node("resolve", resolve)
    builder.add_node("route", route)
    builder.add_node("close", close)
    builder.add_node("update_only", update_only)

    builder.add_edge(START, "ingest")
    builder.add_edge("set_aside", END)
    builder.add_edge("decide_on_clock", "guard")
    for node in ("send", "resolve", "route", "close", "update_only"):
        builder.add_edge(node, END)
    return builder.compile(checkpointer=checkpointer, name="case-agent")


graph = build_graph()
"""For ``langgraph.json``: compiled without a checkpointer; the LangGraph server supplies its own."""
