"""Email nodes: draft the email, let a representative review it, send it.

Approval and sending are separate nodes. The review node pauses with one interrupt and has
no side effect before it; the send node is keyed by the draft, so a resumed or retried run
never sends twice.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent_graph.composing import reply_key_prefix
from agent_graph.context import Context, Services, services
from agent_graph.domain import Action, Actor, CaseStatus, Outbound, OutboxStatus
from agent_graph.errors import PolicyViolation, TemplateRenderError
from agent_graph.interactions import InteractionKind, NewInteraction, log_interaction
from agent_graph.nodes import end_of_run
from agent_graph.nodes.act import act_key
from agent_graph.review import carry_out, inbox_request, parse_human_response
from agent_graph.state import AgentState, Delivery, Plan, ReviewDecision, ReviewKind, Trigger, TurnOutcome
from agent_graph.store import Case
from tools.draft_email import DraftEmailArgs, draft_email
from tools.request_info import RequestInfoArgs, request_info
from tools.send_email import SendEmailArgs, send_email


def compose(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Render the planned email into the outbox; a rendering failure routes the case instead.

    Not one transaction: a language model may draft here, and must not hold the store's write lock."""
    env = services(runtime.context)
    plan = state.plan
    assert plan is not None
    with env.store.unit_of_work(read_only=True):
        case = env.store.case(state.known_case_id)
        key = idempotency_key(env, state, case, plan.action)
    for_review = plan.delivery is Delivery.REVIEW
    try:
        if plan.action is Action.REQUEST_INFO:
            item = request_info(env, RequestInfoArgs(case_id=case.id, missing=plan.missing, idempotency_key=key,
                                                     for_review=for_review, message=plan.message))
        else:
            item = draft_email(env, DraftEmailArgs(case_id=case.id, action=plan.action, idempotency_key=key,
                                                   missing=plan.missing, for_review=for_review,
                                                   message=plan.message, resolves=plan.resolves))
    except (TemplateRenderError, PolicyViolation) as exc:
        return {"plan": Plan(action=Action.ROUTE_TO_REP, reason=f"no email was sent: {exc}")}
    status = CaseStatus(env.store.case(case.id).status)
    outbound = Outbound.DRAFTED if for_review else Outbound.NONE
    return {"draft_id": item.id,
            "outcome": TurnOutcome(action=plan.action, outbound=outbound, status=status, outbox_id=item.id,
                                   held_for_review=plan.held_for_review)}


def idempotency_key(env: Services, state: AgentState, case: Case, action: Action) -> str:
    """Deterministic per case and trigger: the same email (the same due follow-up, the same act) yields
    the same draft."""
    if state.trigger.acts:
        return f"{act_key(case.number or str(case.id), state.trigger, state.source)}:{action.value}"
    if state.trigger is Trigger.TICK:
        since = case.last_outbound_at.isoformat() if case.last_outbound_at else "never"
        return f"{case.number}:follow-up:{case.follow_ups + 1}:{since}"
    assert state.message_pk is not None, "a run on an email has its message_pk from ingest"
    message = env.store.message(state.message_pk)
    return reply_key_prefix(case.number or str(case.id), message.message_id) + action.value


def review(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause for a representative. They may accept, edit (subject/body), respond with feedback, or ignore."""
    env = services(runtime.context)
    assert state.draft_id is not None, "review follows a node that drafted"
    with env.store.unit_of_work(read_only=True):  # what the request shows, read at once
        item = env.store.outbox_item(state.draft_id)
        already = decision_already_taken(item.status)
        if already is not None:  # a run repeated after a crash: the representative has answered
            return already
        case = env.store.case(item.case_id)
        request = inbox_request(env, case, item, state.plan)
    answer = interrupt([request])
    return carry_out(env, case, item, parse_human_response(answer))


def decision_already_taken(status: str) -> dict[str, Any] | None:
    """The outcome of a review recorded in the store, so a repeated run never asks twice."""
    if status in (OutboxStatus.APPROVED, OutboxStatus.SENT):
        return {"review": ReviewDecision(kind=ReviewKind.ACCEPT)}
    if status in (OutboxStatus.DISCARDED, OutboxStatus.SUPERSEDED):
        return {"review": ReviewDecision(kind=ReviewKind.IGNORE),
                "plan": Plan(action=Action.ROUTE_TO_REP, reason="the draft was discarded")}
    return None


def send(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Deliver the approved draft, then log it and end the run.

    Not one transaction: a mailbox outside the store must see its delivery recorded at once."""
    env = services(runtime.context)
    plan = state.plan
    assert plan is not None and state.draft_id is not None
    item = send_email(env, SendEmailArgs(outbox_id=state.draft_id))
    with env.store.unit_of_work():
        case = env.store.case(item.case_id)
        log_interaction(env, NewInteraction(kind=InteractionKind.DRAFT_SENT, case_id=case.id, actor=Actor.AGENT,
                                            summary=f"{plan.action.value} sent to {item.to_address}", outbox_id=item.id,
                                            template_id=item.template_id,
                                            detail={"action": item.action, "edited": item.edited}))
        end_of_run(env, state, runtime)
    return {"outcome": TurnOutcome(action=plan.action, outbound=Outbound.SENT, status=CaseStatus(case.status),
                                   outbox_id=item.id)}
