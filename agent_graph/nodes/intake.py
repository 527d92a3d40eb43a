"""Intake nodes: store the inbound email, tie it to a case, set automatic mail aside."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent_graph.composing import reply_key_prefix
from agent_graph.context import Context, services
from agent_graph.domain import Action, Actor, CaseStatus, Outbound, OutboxStatus
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import message_stranger_reason, receive
from agent_graph.nodes import atomic, ends_run
from agent_graph.state import AgentState, Trigger, TurnOutcome, cleared_run_fields
from agent_graph.store import CaseStore, Message


@atomic
def ingest(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Accepts raw RFC 5322 text, or the key of an email the service already stored."""
    env = services(runtime.context)
    cleared: dict[str, Any] = cleared_run_fields()
    if state.trigger is Trigger.TICK:
        if state.case_id is None:
            raise ValueError("a tick run needs the case_id of the case to follow up")
        return cleared
    if state.trigger.acts:
        return {**cleared, "message_pk": act_source(runtime, state)}
    if state.message_pk is None:
        if not state.raw_email:
            raise ValueError("the input needs raw_email (RFC 5322 text) or message_pk (a stored email)")
        email = parse_email(state.raw_email, own_addresses=[env.catalog.mailbox])
        receipt = receive(env.catalog, env.store, env.clock, email)
        message_pk, case_id = receipt.message_pk, receipt.case_id
        update: dict[str, Any] = {**cleared, "message_pk": message_pk, "case_id": case_id,
                                  "automatic_reason": receipt.automatic_reason, "duplicate": receipt.duplicate}
    else:
        message_pk = state.message_pk
        message = env.store.message(message_pk)  # stored by the service or the mailroom graph
        case_id = message.case_id
        update = {**cleared, "case_id": case_id, "automatic_reason": message.automatic_reason,
                  "duplicate": message.processed}
    if case_id is not None and not update["automatic_reason"] and not update["duplicate"]:
        case = env.store.case(case_id)
        message = env.store.message(message_pk)
        update["stranger"] = message_stranger_reason(case, message)
        supersede_pending_drafts(runtime, case.id, reply_key_prefix(case.number or str(case.id), message.message_id))
    return update


def act_source(runtime: Runtime[Context], state: AgentState) -> int | None:
    """The stored message an act reads (``enrich``; ``resolve`` reads none)."""
    if state.case_id is None:
        raise ValueError(f"an act ({state.trigger.value}) needs the case_id of the case to act on")
    message = act_source_message(services(runtime.context).store, state.case_id, state.trigger, state.source)
    return message.id if message is not None and state.trigger is Trigger.ENRICH else None


def act_source_message(store: CaseStore, case_id: int, trigger: Trigger, source: str | None) -> Message | None:
    """An act's source (a Message-ID): None, or a stored message of the case; ValueError otherwise."""
    if source is None:
        if trigger is Trigger.ENRICH:
            raise ValueError("enrich needs a source: the Message-ID of a stored message of the case to read")
        return None
    message = store.message_by_header(source)
    if message is None or message.case_id != case_id:
        raise ValueError(f"{source!r} is not a stored message of the case")
    return message


def supersede_pending_drafts(runtime: Runtime[Context], case_id: int, own_prefix: str) -> None:
    """New input on a case (a customer email, an act) makes a draft awaiting review stale: the case is
    decided afresh.

    Drafts whose idempotency key starts with ``own_prefix`` (the same email's or act's) are kept: a
    run repeated after a crash finds its own draft."""
    env = services(runtime.context)
    pending = env.store.pending_drafts(case_id)
    if not pending:
        return
    drafts = [d for d in pending if not d.idempotency_key.startswith(own_prefix)]
    if not drafts:
        return
    for draft in drafts:
        env.store.set_outbox(draft.id, status=OutboxStatus.SUPERSEDED)
    case = env.store.case(case_id)
    if case.status == CaseStatus.PENDING_REVIEW:
        env.store.update_case(case_id, env.clock.now(), status=case.status_before_review or CaseStatus.NEW,
                              status_before_review=None)
    env.log_interaction(case_id, Actor.SYSTEM, "draft_superseded", f"{len(drafts)} draft(s) superseded by new input")


@ends_run
def set_aside(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Automatic mail and duplicates are recorded and never answered."""
    env = services(runtime.context)
    status = CaseStatus(env.store.case(state.case_id).status) if state.case_id is not None else None
    if state.duplicate:
        return {"outcome": TurnOutcome(action=None, status=status, note="duplicate email: already processed")}
    note = f"automatic mail ({state.automatic_reason}): recorded, not answered"
    env.log_interaction(state.case_id, Actor.AGENT, Action.IGNORE, note, {"message_pk": state.message_pk})
    return {"outcome": TurnOutcome(action=Action.IGNORE, outbound=Outbound.NONE, status=status, note=note)}
