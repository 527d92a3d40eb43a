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
    case = env.store.case(state.known_case_id)
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
        unsure = unsure_resolution(action, case, limits) if level is AutomationLevel.FULL else None
        if unsure is not None:
            return Plan(action=action, delivery=Delivery.REVIEW, missing=proposal.missing, held_for_review=True,
                        reason=f"{proposal.reason}; held for review: {unsure}")
        delivery = Delivery.REVIEW if level is AutomationLevel.CONFIRM else Delivery.SEND
        return Plan(action=action, delivery=delivery, missing=proposal.missing, reason=proposal.reason)
    return Plan(action=action, reason=proposal.reason)


def unsure_resolution(action: Action, case: Case, limits: Limits) -> str | None:
    """Why a resolution is not sure enough to send, or None. It rests on the identification of the
    case's intent, whichever email supplied the last value: its stored confidence is compared (none
    stored counts as no confidence), and its margin over a rival, an intent the same values would
    resolve too (docs/behaviour.md step 8)."""
    if action is not Action.SEND_RESOLUTION:
        return None
    confidence = case.intent_confidence or 0.0
    if confidence < limits.send_confidence:
        return (f"intent {case.intent} was identified with confidence {confidence:.2f}, below "
                f"limits.send_confidence {limits.send_confidence:.2f}")
    if case.intent_margin is not None and case.intent_margin < limits.send_margin:
        return (f"intent {case.intent} was identified only {case.intent_margin:.2f} ahead of {case.intent_rival}, "
                f"which the same information would resolve too (below limits.send_margin "
                f"{limits.send_margin:.2f}): which of the two does the customer mean?")
    return None
