"""Receiving mail: store an inbound email once and tie it to a case."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel

from agent_graph.catalog import Catalog
from agent_graph.clock import Clock
from agent_graph.domain import Actor
from agent_graph.intake import MAX_BODY_CHARS, REPLY_PREFIX_RE, InboundEmail, case_number_in_subject
from agent_graph.store import CaseStore

CASE_TAG = re.compile(r"\s*\[?CAS-\d{6}\]?\s*")
#: The interaction kind that records a body cut to MAX_BODY_CHARS.
BODY_CUT = "body_cut"


class Receipt(BaseModel):
    message_pk: int
    case_id: int | None
    duplicate: bool = False
    automatic_reason: str | None = None


def receive(catalog: Catalog, store: CaseStore, clock: Clock, email: InboundEmail) -> Receipt:
    """Store the email (once per Message-ID) and thread it to a case, opening one when needed.

    Automatic mail is kept on the case it threads to; it never opens a case of its own.
    """
    existing = store.message_by_header(email.message_id)
    if existing is not None:
        return Receipt(message_pk=existing.id, case_id=existing.case_id, duplicate=existing.processed,
                       automatic_reason=existing.automatic_reason)
    case_id = find_case(store, email)
    now = clock.now()
    if case_id is None and email.automatic_reason is None:
        lob = catalog.lob_for_address(email.to)
        case = store.open_case(lob=lob.id, customer_email=email.from_address, customer_name=email.from_name,
                               title=case_title(email.subject), at=now)
        case_id = case.id
    message = store.add_inbound(email, case_id, now)
    if email.body_cut_from is not None:
        record_body_cut(store, email, message.id, case_id, now)
    return Receipt(message_pk=message.id, case_id=case_id, automatic_reason=email.automatic_reason)


def record_body_cut(store: CaseStore, email: InboundEmail, message_pk: int, case_id: int | None,
                    at: datetime) -> None:
    """Say on the case (``case-agent show``) that only the start of a huge body was read."""
    store.record(case_id, Actor.SYSTEM, BODY_CUT, f"the body of {email.message_id} had {email.body_cut_from:,} "
                 f"characters; only the first {MAX_BODY_CHARS:,} were read", at,
                 {"message_pk": message_pk, "body_chars": email.body_cut_from})


def find_case(store: CaseStore, email: InboundEmail) -> int | None:
    """By In-Reply-To, then References (newest first), then a case number in the subject."""
    case_id = store.case_for_thread([email.in_reply_to or "", *reversed(email.references)])
    if case_id is not None:
        return case_id
    number = case_number_in_subject(email.subject)
    case = store.case_by_number(number) if number else None
    return case.id if case else None


def case_title(subject: str) -> str:
    title = CASE_TAG.sub(" ", REPLY_PREFIX_RE.sub("", subject)).strip()
    return title[:200] or "(no subject)"
