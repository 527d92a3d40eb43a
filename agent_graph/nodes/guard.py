"""The guard: plain code between what is proposed and the tool that acts.

It applies the LOB's automation level and the limits. Nothing in a customer's email can
change what it allows: it reads only the proposal, the case and the catalog.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.catalog import AutomationLevel, Limits
from agent_graph.context import Context, services
from agent_graph.domain import Action, CaseStatus
from agent_graph.nodes import reads_store
from agent_graph.state import AgentState, Delivery, Plan, Proposal, TurnOutcome
from agent_graph.store import Case


@reads_store
def guard(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = env.store.case(state.case_id)
    plan = None
    if state.proposal is not None:
        level = env.automation_for(case.lob, state.automation)
        plan = permitted_plan(state.proposal, case, level, env.catalog.limits)
    if plan is None:  # the run ends here
        return {"plan": None, "outcome": TurnOutcome(action=None, status=CaseStatus(case.status), note="nothing due")}
    return {"plan": plan}


def permitted_plan(proposal: Proposal, case: Case, level: AutomationLevel, limits: Limits) -> Plan | None:
    action = proposal.action
    if action.sends_email:
        if level is AutomationLevel.DISABLED:
            if action is Action.FOLLOW_UP:
                return None
            return Plan(action=Action.ROUTE_TO_REP, reason=f"automation is disabled for this line of business "
                                                            f"({proposal.reason})")
        if action is Action.REQUEST_INFO and case.info_requests >= limits.max_info_requests:
            return Plan(action=Action.ROUTE_TO_REP, reason=f"{case.info_requests} information requests already "
                                                           f"sent (limit {limits.max_info_requests})")
        if level is AutomationLevel.FULL and unsure_resolution(action, case, limits.send_confidence):
            return Plan(action=action, delivery=Delivery.REVIEW, missing=proposal.missing, held_for_review=True,
                        reason=f"{proposal.reason}; held for review: intent {case.intent} was identified with "
                               f"confidence {case.intent_confidence or 0.0:.2f}, below limits.send_confidence "
                               f"{limits.send_confidence:.2f}")
        delivery = Delivery.REVIEW if level is AutomationLevel.CONFIRM else Delivery.SEND
        return Plan(action=action, delivery=delivery, missing=proposal.missing, reason=proposal.reason)
    return Plan(action=action, reason=proposal.reason)


def unsure_resolution(action: Action, case: Case, send_confidence: float) -> bool:
    """A resolution rests on the identification of the case's intent, whichever email supplied the
    last value: its stored confidence is compared (none stored counts as no confidence)."""
    return action is Action.SEND_RESOLUTION and (case.intent_confidence or 0.0) < send_confidence
