"""Receiving for the sub-agent: store a request's email once, tie it to its case, and answer the
case and its thread; and the stateless ``mailroom`` graph that does this on a LangGraph server.

Every email of a case must run on the case's own thread
(:func:`~agent_graph.service.thread_id_for` of the case number), and a new email's case is only
known once the email is stored and threaded. So a run is two steps: the ``mailroom`` graph
(:data:`mailroom_graph`) stores the email, ties it to its case (opening one when needed) and
answers with the case and its thread id; then the ``case_agent`` graph runs on that thread with the
stored email's key. HTTP clients do the same two calls (docs/server.md).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent_graph.context import Context, Services, services
from agent_graph.domain import CaseStatus
from agent_graph.errors import SubAgentError
from agent_graph.intake.building import build_email
from agent_graph.intake.parsing import GENERATED_ID_DOMAIN, parse_email
from agent_graph.mailroom import Receipt, receive, set_aside_unthreaded
from agent_graph.nodes.decision import due_step
from agent_graph.service import thread_id_for
from agent_graph.store import Case, CaseStore
from agent_graph.subagent.contract import MAILROOM_GRAPH_ID, CaseRequest, CaseSnapshot, EmailFields, MailroomResult


def email_source(email: str | EmailFields, mailbox: str, now: datetime) -> str:
    """RFC 5322 text for an email given either way.

    Without a Message-ID, fields get one derived from their content: the same email sent twice
    (a retried tool call) is stored once."""
    if isinstance(email, str):
        return email
    message_id = email.message_id or _derived_message_id(email)
    references = email.references or ([email.in_reply_to] if email.in_reply_to else [])
    raw = build_email(from_=email.from_, to=email.to or mailbox, subject=email.subject, body=email.body,
                      message_id=message_id, date=email.date or now, in_reply_to=email.in_reply_to,
                      references=references)
    return raw.decode("utf-8")


def _derived_message_id(email: EmailFields) -> str:
    content = email.model_dump(mode="json", exclude={"message_id"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]
    return f"fields-{digest}@{GENERATED_ID_DOMAIN}"


def find_case_ref(store: CaseStore, ref: str | int) -> Case:
    """A case by number (``CAS-000123``, any case) or by id."""
    case = store.case_by_ref(ref)
    if case is None:
        raise SubAgentError(f"no case {str(ref).strip()!r}: give a case number such as CAS-000123, or a case id")
    return case


def case_snapshot(env: Services, case: Case) -> CaseSnapshot:
    fields = env.store.field_values(case.id)
    return CaseSnapshot(id=case.id, number=case.number or str(case.id), status=CaseStatus(case.status),
                      title=case.title, lob=case.lob, intent=case.intent, customer_email=case.customer_email,
                      customer_name=case.customer_name, queue=case.queue, fields=fields,
                      pending_review=bool(env.store.pending_drafts(case.id)), language=case.language)


def locate(env: Services, request: CaseRequest) -> MailroomResult:
    """Store the request's email (once) and find its case and thread; or look a case up."""
    case = find_case_ref(env.store, request.case) if request.case is not None else None
    receipt: Receipt | None = None
    if request.email is not None:
        raw = email_source(request.email, env.catalog.mailbox, env.clock.now())
        email = parse_email(raw, own_addresses=[env.catalog.mailbox])
        with env.store.unit_of_work():
            receipt = receive(env.catalog, env.store, env.clock, email, case=case)
            if receipt.case_id is None:
                return MailroomResult(message_pk=receipt.message_pk, duplicate=receipt.duplicate,
                                      automatic_reason=receipt.automatic_reason,
                                      note=set_aside_unthreaded(env, receipt))
        case = env.store.case(receipt.case_id)
    assert case is not None  # CaseRequest guarantees a case or an email
    return MailroomResult(
        case_record=case_snapshot(env, case), thread_id=thread_id_for(case.number or str(case.id)),
        message_pk=receipt.message_pk if receipt else None, duplicate=bool(receipt and receipt.duplicate),
        automatic_reason=receipt.automatic_reason if receipt else None,
        follow_up_due=receipt is None and due_step(env.catalog, case, env.clock.now()) is not None,
        note="duplicate: this email was already processed" if receipt and receipt.duplicate else "",
    )


class MailroomState(CaseRequest, MailroomResult):
    pass


def mailroom_receive(state: MailroomState, runtime: Runtime[Context]) -> dict[str, Any]:
    request = CaseRequest(case=state.case, email=state.email)
    return locate(services(runtime.context), request).model_dump(mode="json")


def build_mailroom_graph() -> CompiledStateGraph[MailroomState, Context, CaseRequest, MailroomResult]:
    """Stateless: run it without a thread (``POST /runs/wait``); it has no checkpointer of its own."""
    builder = StateGraph(MailroomState, context_schema=Context, input_schema=CaseRequest,
                         output_schema=MailroomResult)
    builder.add_node("receive", mailroom_receive)
    builder.add_edge(START, "receive")
    builder.add_edge("receive", END)
    return builder.compile(name=MAILROOM_GRAPH_ID)


mailroom_graph = build_mailroom_graph()
"""For ``langgraph.json``: receive an email and/or look up a case; answers the case's thread id."""
