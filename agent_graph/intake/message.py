"""The typed inbound email, and the subject rules every step reads subjects by (a reply's
prefixes, a case number)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator

from agent_graph.intake.headers import valid_text

CASE_NUMBER_RE = re.compile(r"\bCAS-\d{6}\b")

class InboundEmail(BaseModel):
    """One inbound email, decoded. Values for case fields come from ``new_text`` only."""

    message_id: str
    in_reply_to: str | None
    references: list[str]
    from_address: str
    from_name: str | None
    sender_doubt: str | None = None
    """Why ``from_address`` may not be the sender's own address (docs/behaviour.md, step 2), or None."""
    to: list[str]
    subject: str
    date: datetime | None
    body_text: str
    new_text: str
    headers: dict[str, str]
    automatic_reason: str | None
    raw: str
    #: The body's length in characters when it was longer than MAX_BODY_CHARS and cut to it.
    body_cut_from: int | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        """Every text value is valid Unicode that any store can encode (no surrogates, no NUL)."""
        return valid_text(value)


REPLY_PREFIX_RE = re.compile(r"^\s*((re|fw|fwd|aw|sv|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def is_reply_subject(subject: str) -> bool:
    """'Re: …', 'Fwd: …', 'AW: …': a subject that repeats an earlier email's."""
    return REPLY_PREFIX_RE.match(subject) is not None


def is_first_subject(subject: str) -> bool:
    """The subject of a first email carries meaning ("Refund for A-10442"); a reply's repeats ours.
    The one rule every brain reads subjects by."""
    return bool(subject.strip()) and not is_reply_subject(subject)


def case_number_in_subject(subject: str) -> str | None:
    """The first case number (``CAS-000123``) in a subject, or None."""
    found = CASE_NUMBER_RE.search(subject or "")
    return found.group(0) if found else None
