"""The custom-agent node: where the guard would send a resolution or ask for information on a case
whose intent has a custom agent (formats.md §1 ``agent``), the agent is asked instead.

Its answer becomes a proposal, and the proposal goes through the guard's own rules
(:func:`~agent_graph.nodes.guard.permitted_plan`: automation level, information-request limit,
send confidence); the email it leads to is composed, grounded, addressed and reviewed like any
other (``nodes/email.py``). An agent that fails, times out or answers something invalid sends
nothing: the case goes to a representative with the reason. Every call is on the case timeline.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.catalog import AutomationLevel, Limits
from agent_graph.context import Context, services
from agent_graph.custom_agent import AgentCall, call_custom_agent
from agent_graph.domain import Action, Actor, ResponseType
from agent_graph.nodes.guard import permitted_plan
from agent_graph.state import AgentState, Delivery, Plan, Proposal
from agent_graph.store import Case

CUSTOM_AGENT_CALL = "custom_agent_call"
"""The interaction kind of a call (``case-agent show``)."""

CONSULTED = frozenset({Action.REQUEST_INFO, Action.SEND_RESOLUTION})
"""The plans a custom agent takes over: asking the customer, and resolving. Follow-ups stay templates."""


def consults_custom_agent(state: AgentState, runtime: Runtime[Context]) -> bool:
    """Whether the guard's plan goes to the case's custom agent (a catalog without agents costs nothing)."""
    plan = state.plan
    if plan is None or plan.action not in CONSULTED or state.case_id is None:
        return False
    env = services(runtime.context)
    if not env.catalog.has_agents:
        return False
    with env.store.unit_of_work(read_only=True):
        intent = env.store.case(state.case_id).intent
    return env.catalog.agent_for(intent) is not None


def consult(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Call the agent and turn its answer into the plan.

    Not one transaction: the agent may take up to its timeout, and reads the case meanwhile."""
    env = services(runtime.context)
    assert state.plan is not None
    with env.store.unit_of_work(read_only=True):
        case = env.store.case(state.known_case_id)
    ref = env.catalog.agent_for(case.intent)
    assert ref is not None
    call = call_custom_agent(env, ref, case)
    with env.store.unit_of_work():
        env.store.add_interaction(case.id, Actor.AGENT, CUSTOM_AGENT_CALL, call.summary(), env.clock.now(),
                                  call.detail())
    level = env.automation_for(case.lob, state.automation)
    return {"plan": plan_for_answer(call, state.plan, case, level, env.catalog.limits)}


def plan_for_answer(call: AgentCall, guarded: Plan, case: Case, level: AutomationLevel, limits: Limits) -> Plan:
    """What the agent's answer may do, given the guard's plan it replaced (a draft for review stays one)."""
    answer = call.answer
    if answer is None:
        return Plan(action=Action.ROUTE_TO_REP, reason=f"the custom agent failed, nothing was sent: {call.error}")
    kind = answer.response_type
    if kind is ResponseType.UNABLE_TO_RESOLVE:
        return Plan(action=Action.ROUTE_TO_REP, reason=f"the custom agent could not resolve it: {answer.message}")
    if kind is ResponseType.NO_ACTION:
        return Plan(action=Action.UPDATE_ONLY, reason="the custom agent answered NoAction")
    action = Action.REQUEST_INFO if kind is ResponseType.QUESTION else Action.SEND_RESOLUTION
    plan = permitted_plan(Proposal(action=action, reason=f"the custom agent answered {kind.value}"), case, level,
                          limits)
    assert plan is not None  # a proposal that sends email always gets a plan
    if not plan.action.sends_email:
        return plan
    update: dict[str, Any] = {"message": answer.message, "resolves": kind is ResponseType.RESOLVE_CASE}
    if answer.needs_review or guarded.delivery is Delivery.REVIEW:
        update["delivery"] = Delivery.REVIEW
    if answer.needs_review and level is AutomationLevel.FULL:
        update["reason"] = f"{plan.reason}; held for review: the custom agent asked for it (needsReview)"
    return plan.model_copy(update=update)
