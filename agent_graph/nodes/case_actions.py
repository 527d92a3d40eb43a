"""Case nodes: resolve, route to a representative, close, or only record."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.context import Context, services
from agent_graph.domain import Action, Actor, CaseStatus
from agent_graph.errors import PolicyViolation
from agent_graph.nodes import ends_run
from agent_graph.state import AgentState, TurnOutcome
from tools.close_case import CloseCaseArgs, close_case
from tools.resolve_case import ResolveCaseArgs, resolve_case
from tools.route_to_rep import RouteToRepArgs, route_to_rep


@ends_run
def resolve(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    try:
        case = resolve_case(env, ResolveCaseArgs(case_id=state.case_id, accepting_message_pk=state.message_pk))
    except PolicyViolation as exc:
        return _route(state, runtime, f"could not resolve: {exc}")
    env.record(case.id, Actor.AGENT, Action.RESOLVE_CASE, "customer accepted; case resolved")
    return {"outcome": TurnOutcome(action=Action.RESOLVE_CASE, status=CaseStatus(case.status))}


@ends_run
def route(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    assert state.plan is not None
    return _route(state, runtime, state.plan.reason or "routed by policy")


def _route(state: AgentState, runtime: Runtime[Context], reason: str) -> dict[str, Any]:
    env = services(runtime.context)
    case = route_to_rep(env, RouteToRepArgs(case_id=state.case_id, reason=reason))
    env.record(case.id, Actor.AGENT, Action.ROUTE_TO_REP, f"to queue {case.queue}: {reason}")
    return {"outcome": TurnOutcome(action=Action.ROUTE_TO_REP, status=CaseStatus(case.status), note=reason)}


@ends_run
def close(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = close_case(env, CloseCaseArgs(case_id=state.case_id))
    env.record(case.id, Actor.AGENT, Action.CLOSE_CASE, "closed after the last follow-up")
    return {"outcome": TurnOutcome(action=Action.CLOSE_CASE, status=CaseStatus(case.status))}


@ends_run
def update_only(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = env.store.case(state.case_id)
    reason = state.plan.reason if state.plan else f"act {state.trigger.value} read {state.source}"
    env.record(case.id, Actor.AGENT, Action.UPDATE_ONLY, f"fields updated, nothing sent ({reason})")
    return {"outcome": TurnOutcome(action=Action.UPDATE_ONLY, status=CaseStatus(case.status), note=reason)}
