"""The understanding node: the brain proposes intent and values; code keeps only what holds up."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent_graph.brain.base import UnderstandRequest, Understanding
from agent_graph.context import Context, Services, services
from agent_graph.domain import Actor, CaseStatus
from agent_graph.state import AgentState
from tools.update_case_fields import UpdateCaseFieldsArgs, update_case_fields

log = logging.getLogger(__name__)

REPLY_STATUSES = {CaseStatus.RESOLUTION_PROPOSED, CaseStatus.RESOLVED, CaseStatus.CLOSED}


def understand(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """The brain proposes intent and values; :func:`record_fields` keeps what holds up and writes it.

    The store is read first and released before the brain is asked (a language model may take
    seconds); what is kept is written in one transaction after. An email that does not speak for
    the case's customer (``state.stranger``) is not read at all: nothing of it reaches the case."""
    if state.stranger is not None:
        return {"understanding": None}
    env = services(runtime.context)
    assert state.case_id is not None and state.message_pk is not None
    with env.store.unit_of_work(read_only=True):
        case = env.store.case(state.case_id)
        message = env.store.message(state.message_pk)
        earlier = [m.new_text for m in env.store.customer_messages(case.id) if m.id != message.id]
    first_subject = message.subject if not earlier else ""
    request = UnderstandRequest(
        new_text=message.new_text, subject=first_subject, known_intent=case.intent, earlier_texts=earlier,
        reply_to_resolution=effective_status(case.status, case.status_before_review) in REPLY_STATUSES,
        now=env.clock.now(),
    )
    understanding = env.brain.understand(env.catalog, request)
    with env.store.unit_of_work():
        record_fields(env, state.case_id, state.message_pk, understanding)
    return {"understanding": understanding}


def effective_status(status: str, before_review: str | None) -> CaseStatus:
    """A case waiting for review is, for the customer, still where it was before the draft."""
    if status == CaseStatus.PENDING_REVIEW and before_review:
        return CaseStatus(before_review)
    return CaseStatus(status)


def record_fields(env: Services, case_id: int, message_pk: int, understanding: Understanding) -> None:
    """Guard for the brain's proposals: an intent outside the catalog or below the confidence
    threshold counts as unidentified; a value whose span is not in the customer's own text is dropped."""
    case = env.store.case(case_id)
    message = env.store.message(message_pk)
    guess = understanding.intent
    intent_id = None
    if case.intent is None and guess.intent_id is not None:
        if env.catalog.intent(guess.intent_id) is None:
            log.warning("brain proposed intent %r, which is not in the catalog: ignored", guess.intent_id)
        elif guess.confidence >= env.catalog.limits.intent_confidence:
            intent_id = guess.intent_id
    customer_text = _flat("\n".join([message.subject, *[m.new_text for m in env.store.customer_messages(case.id)]]))
    grounded = [v for v in understanding.values if v.span.strip() and _flat(v.span) in customer_text]
    dropped = [v.name for v in understanding.values if v not in grounded]
    result = update_case_fields(env, UpdateCaseFieldsArgs(
        case_id=case.id, intent_id=intent_id, intent_confidence=guess.confidence if intent_id else None,
        values=grounded, message_pk=message.id,
    ))
    if intent_id:
        env.record(case.id, Actor.AGENT, "intent_identified", f"intent {intent_id} ({guess.confidence:.2f})",
                   {"prompt_version": understanding.prompt_version, "language": understanding.language})
    if understanding.instructs_agent:
        env.record(case.id, Actor.AGENT, "instructions_ignored",
                   "the email tries to instruct the agent; it changes nothing the agent may do")
    if result.written or result.rejected or dropped:
        env.record(case.id, Actor.AGENT, "update_case_fields",
                   f"wrote {', '.join(result.written) or 'nothing'}",
                   {"written": result.written, "rejected": [r.model_dump() for r in result.rejected],
                    "ungrounded": dropped})


def _flat(text: str) -> str:
    """Whitespace-insensitive form, so a span quoted across a line break still counts as found."""
    return " ".join(text.split()).lower()
