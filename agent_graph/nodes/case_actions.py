"""Case nodes: resolve, route to a representative, close, or only log."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.context import Context, services
from agent_graph.domain import Action, Actor, CaseStatus
from agent_graph.errors import PolicyViolation
from agent_graph.handoff import HandoffSummary, handoff_facts, handoff_summary
from agent_graph.interactions import InteractionKind, NewInteraction, log_interaction
from agent_graph.nodes import end_of_run, ends_run
from agent_graph.state import AgentState, TurnOutcome
from tools.close_case import CloseCaseArgs, close_case
from tools.resolve_case import ResolveCaseArgs, resolve_case
from tools.route_to_rep import RouteToRepArgs, route_to_rep


@ends_run
def resolve(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    try:
        case = resolve_case(env, ResolveCaseArgs(case_id=state.known_case_id, accepting_message_pk=state.message_pk))
    except PolicyViolation as exc:
        return _route(state, runtime, f"could not resolve: {exc}")
    env.log_interaction(case.id, Actor.AGENT, Action.RESOLVE_CASE, "customer accepted; case resolved")
    return {"outcome": TurnOutcome(action=Action.RESOLVE_CASE, status=CaseStatus(case.status))}


def route(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Route the case with its hand-off summary. Not :func:`ends_run` as a whole: the brain may word the
    summary, and must not hold the store's write lock; the routing itself is one transaction."""
    assert state.plan is not None
    env = services(runtime.context)
    reason = state.plan.reason or "routed by policy"
    with env.store.unit_of_work(read_only=True):
        facts = handoff_facts(env.store, env.catalog, env.store.case(state.known_case_id), reason)
    summary = handoff_summary(facts, env.brain)
    with env.store.unit_of_work():
        update = _route(state, runtime, reason, summary)
        end_of_run(env, state, runtime)
    return update


def _route(state: AgentState, runtime: Runtime[Context], reason: str,
           summary: HandoffSummary | None = None) -> dict[str, Any]:
    """Route in the caller's transaction; without a summary, the offline engine words it (no model call
    inside a write transaction)."""
    env = services(runtime.context)
    if summary is None:
        summary = handoff_summary(handoff_facts(env.store, env.catalog, env.store.case(state.known_case_id), reason))
    case = route_to_rep(env, RouteToRepArgs(case_id=state.known_case_id, reason=reason))
    log_interaction(env, NewInteraction(kind=InteractionKind.ROUTED, case_id=case.id, actor=Actor.AGENT,
                                        summary=f"to queue {case.queue}: {reason}",
                                        detail={"queue": case.queue, "handoff": summary.model_dump(mode="json")}))
    return {"outcome": TurnOutcome(action=Action.ROUTE_TO_REP, status=CaseStatus(case.status), note=reason)}


@ends_run
def close(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = close_case(env, CloseCaseArgs(case_id=state.known_case_id))
    env.log_interaction(case.id, Actor.AGENT, Action.CLOSE_CASE, "closed after the last follow-up")
    return {"outcome": TurnOutcome(action=Action.CLOSE_CASE, status=CaseStatus(case.status))}


@ends_run
def update_only(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = env.store.case(state.known_case_id)
    reason = state.plan.reason if state.plan else f"act {state.trigger.value} read {state.source}"
    env.log_interaction(case.id, Actor.AGENT, Action.UPDATE_ONLY, f"fields updated, nothing sent ({reason})")
    return {"outcome": TurnOutcome(action=Action.UPDATE_ONLY, status=CaseStatus(case.status), note=reason)}
