"""Receiving mail: store an inbound email once and tie it to a case."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel

from agent_graph.catalog import Catalog
from agent_graph.claims import Claim
from agent_graph.clock import Clock
from agent_graph.context import Services
from agent_graph.domain import Action, Actor
from agent_graph.errors import SubAgentError
from agent_graph.intake.message import REPLY_PREFIX_RE, InboundEmail, case_number_in_subject
from agent_graph.intake.parsing import MAX_BODY_CHARS, stranger_reason
from agent_graph.store import Case, CaseStore, Message

CASE_TAG = re.compile(r"\s*\[?CAS-\d{6}\]?\s*")
#: The interaction kind that records a body cut to MAX_BODY_CHARS.
BODY_CUT = "body_cut"


class Receipt(BaseModel):
    message_pk: int
    case_id: int | None
    duplicate: bool = False
    automatic_reason: str | None = None
    claimed: bool = True
    """False: another worker is running this stored email (``agent_graph.claims``); leave it to them."""


def receive(catalog: Catalog, store: CaseStore, clock: Clock, email: InboundEmail, claim: Claim | None = None,
            case: Case | None = None, source: str | None = None) -> Receipt:
    """Store the email (once per Message-ID) and thread it to a case, opening one when needed.

    The one way an inbound email enters the store: the CLI, the ``run`` service, the mailroom
    graph and the sub-agent all call it. Automatic mail is kept on the case it threads to; it never
    opens a case of its own. With a ``claim``, the email is stored claimed by its worker, or a
    stored one that nobody runs is taken. With a ``case``, an email that threads nowhere joins
    that case, and one that threads to another case is refused (SubAgentError). ``source``: where
    it was read, kept with it for the worker that runs it (``CaseAgent.take_next``).
    """
    existing = store.message_by_header(email.message_id)
    if case is not None:
        threaded = existing.case_id if existing is not None else find_case(store, email)
        if threaded is not None and threaded != case.id:
            raise SubAgentError(f"email {email.message_id} belongs to case {store.case(threaded).number}, "
                                f"not {case.number}")
    if existing is not None:
        claimed = existing.processed or claim is None or store.claim_message(existing.id, claim)
        return Receipt(message_pk=existing.id, case_id=existing.case_id, duplicate=existing.processed,
                       automatic_reason=existing.automatic_reason, claimed=claimed)
    case_id, refused = _thread(store, email)
    if case_id is None and case is not None:
        case_id, refused = case.id, None
    now = clock.now()
    if case_id is None and email.automatic_reason is None:
        lob = catalog.lob_for_address(email.to)
        customer = email.from_address if email.sender_doubt is None else ""
        case = store.open_case(lob=lob.id, customer_email=customer, customer_name=email.from_name,
                               title=case_title(email.subject), at=now)
        case_id = case.id
        if refused is not None:
            store.add_interaction(case_id, Actor.SYSTEM, "case_reference_refused",
                                  f"the subject names {refused.number}, a case of another customer: "
                                  "a new case was opened", now, {"referenced_case": refused.number})
    message = store.add_inbound(email, case_id, now, claim, source)
    if email.body_cut_from is not None:
        log_body_cut(store, email, message.id, case_id, now)
    return Receipt(message_pk=message.id, case_id=case_id, automatic_reason=email.automatic_reason)


def set_aside_unthreaded(env: Services, receipt: Receipt) -> str:
    """Automatic mail that belongs to no case: no agent run follows, so it is recorded (once) here."""
    note = f"automatic mail ({receipt.automatic_reason or 'automatic'}) that belongs to no case: recorded, not answered"
    if not receipt.duplicate:
        env.log_interaction(None, Actor.AGENT, Action.IGNORE, note, {"message_pk": receipt.message_pk})
        env.store.mark_processed(receipt.message_pk)
    return note


def log_body_cut(store: CaseStore, email: InboundEmail, message_pk: int, case_id: int | None,
                 at: datetime) -> None:
    """Say on the case (``case-agent show``) that only the start of a huge body was read."""
    store.add_interaction(case_id, Actor.SYSTEM, BODY_CUT,
                          f"the body of {email.message_id} had {email.body_cut_from:,} characters; "
                          f"only the first {MAX_BODY_CHARS:,} were read", at,
                          {"message_pk": message_pk, "body_chars": email.body_cut_from})


def find_case(store: CaseStore, email: InboundEmail) -> int | None:
    """By In-Reply-To, then References (newest first), then a case number in the subject."""
    return _thread(store, email)[0]


def _thread(store: CaseStore, email: InboundEmail) -> tuple[int | None, Case | None]:
    """:func:`find_case`, and the case the subject names but the email may not join: case numbers
    are sequential, so anyone can write one, and only the case's customer threads by it
    (:func:`stranger_reason`)."""
    case_id = store.case_for_thread([email.in_reply_to or "", *reversed(email.references)])
    if case_id is not None:
        return case_id, None
    number = case_number_in_subject(email.subject)
    case = store.case_by_number(number) if number else None
    if case is None:
        return None, None
    if stranger_reason(case.customer_email, email.from_address, email.sender_doubt) is not None:
        return None, case
    return case.id, None


def message_stranger_reason(case: Case, message: Message) -> str | None:
    """:func:`~agent_graph.intake.stranger_reason` for a stored email on a case."""
    return stranger_reason(case.customer_email, message.from_address, message.sender_doubt)


def case_title(subject: str) -> str:
    title = CASE_TAG.sub(" ", REPLY_PREFIX_RE.sub("", subject)).strip()
    return title[:200] or "(no subject)"
