"""Decision nodes: the decision table, for an inbound email and for a clock tick."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.brain.base import Understanding
from agent_graph.brain.types import ReplyKind
from agent_graph.catalog import AttributeType, Catalog
from agent_graph.context import Context, services
from agent_graph.domain import Action, CaseStatus, effective_status
from agent_graph.nodes import reads_store
from agent_graph.state import AgentState, CaseUpdate, Proposal
from agent_graph.store import Case


@reads_store
def decide(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    if state.stranger is not None:  # security (docs/behaviour.md step 2), before the decision table
        return {"proposal": Proposal(action=Action.ROUTE_TO_REP, reason=f"not answered: {state.stranger}")}
    env = services(runtime.context)
    case = env.store.case(state.known_case_id)
    assert state.understanding is not None
    fields = set(env.store.current_fields(case.id))
    return {"proposal": decide_for_email(env.catalog, case, fields, state.understanding, state.update,
                                         language_unrecognised=state.language_unrecognised)}


def decide_for_email(catalog: Catalog, case: Case, fields: set[str], understanding: Understanding,
                     update: CaseUpdate, *, language_unrecognised: bool = False) -> Proposal:
    """The decision table of docs/behaviour.md, for the case as this email left it (``update``:
    what the email changed; ``language_unrecognised``: a long email whose language could not be told,
    on a case that has none)."""
    status = effective_status(case.status, case.status_before_review)
    reply = understanding.reply_kind
    if status == CaseStatus.RESOLUTION_PROPOSED and reply is ReplyKind.ACCEPTS:
        return Proposal(action=Action.RESOLVE_CASE, reason="the customer accepted the proposed resolution")
    if status == CaseStatus.RESOLUTION_PROPOSED and reply is ReplyKind.NEEDS_HELP:
        return Proposal(action=Action.ROUTE_TO_REP, reason="the customer still needs help after the proposed resolution")
    if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED) and reply is ReplyKind.ACCEPTS:
        return Proposal(action=Action.UPDATE_ONLY, reason="a thank-you on a finished case")
    if status == CaseStatus.WITH_REPRESENTATIVE:
        return Proposal(action=Action.UPDATE_ONLY, reason="a representative owns the case")
    if language_unrecognised:
        return Proposal(action=Action.ROUTE_TO_REP,
                        reason="the customer's language is not recognised: no email can be written in it")
    if case.language is not None and case.language not in catalog.languages:
        return Proposal(action=Action.ROUTE_TO_REP,
                        reason=f"the customer writes in '{case.language}', a language the organisation does not "
                               f"answer in ({', '.join(catalog.languages)})")
    if understanding.asks_for_person:
        return Proposal(action=Action.ROUTE_TO_REP, reason="the customer asked for a person")
    if status == CaseStatus.RESOLUTION_PROPOSED and not brings_new_information(catalog, case, update):
        return Proposal(action=Action.ROUTE_TO_REP, reason="reply not understood")
    return resolution_step(catalog, case, fields)


def resolution_step(catalog: Catalog, case: Case, fields: set[str], why: str = "") -> Proposal:
    """The resolution path for the case as it stands: ask for what is missing, else resolve. ``why``
    opens each reason (an act says it was asked for)."""
    intent = catalog.intent(case.intent)
    if intent is None:
        return Proposal(action=Action.REQUEST_INFO, reason=f"{why}the intent could not be identified")
    missing = intent.missing_from(fields)
    if missing:
        return Proposal(action=Action.REQUEST_INFO, missing=missing,
                        reason=f"{why}required information missing: {', '.join(missing)}")
    return Proposal(action=Action.SEND_RESOLUTION, reason=f"{why}every required attribute of {intent.id} is known")


def brings_new_information(catalog: Catalog, case: Case, update: CaseUpdate) -> bool:
    """Whether an email changed what the case is about: a new intent, or a new typed value. Free
    text is not counted: it is taken from whatever the customer writes, chatter included."""
    if update.new_intent is not None:
        return True
    intent = catalog.intent(case.intent)
    attributes = [intent.attribute(name) for name in update.written] if intent else []
    return any(a is not None and a.type is not AttributeType.TEXT for a in attributes)


@reads_store
def decide_on_clock(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    env = services(runtime.context)
    case = env.store.case(state.known_case_id)
    return {"proposal": due_step(env.catalog, case, env.clock.now())}


def due_step(catalog: Catalog, case: Case, now) -> Proposal | None:  # type: ignore[no-untyped-def]
    """A follow-up or a closure that is due now, or None. At most one step per tick."""
    follow_up = catalog.follow_up
    if follow_up is None or case.status not in (CaseStatus.AWAITING_CUSTOMER, CaseStatus.RESOLUTION_PROPOSED):
        return None
    last_out = case.last_outbound_at
    if last_out is None or (case.last_inbound_at is not None and case.last_inbound_at > last_out):
        return None
    elapsed = now - last_out
    if case.follow_ups < follow_up.max_follow_ups and elapsed >= follow_up.after:
        return Proposal(action=Action.FOLLOW_UP, reason=f"no reply for {elapsed}")
    if case.follow_ups >= follow_up.max_follow_ups and elapsed >= follow_up.close_after_last:
        return Proposal(action=Action.CLOSE_CASE, reason=f"no reply after {case.follow_ups} follow-up(s)")
    return None
