"""Automatic mail: why an email was sent by a machine (a bounce, an out-of-office reply, a list),
so that it is never answered and never opens a case (docs/behaviour.md, step 3)."""

from __future__ import annotations

import email.utils
import functools
import re
from collections.abc import Iterable
from email.message import Message

from agent_graph.intake.headers import first_raw_headers, header_text, unsurrogate

_DAEMON_SENDER_RE = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|no_reply|do-?not-?reply|do_not_reply)([+._-].*)?$", re.IGNORECASE
)
_AUTOMATIC_SUBJECT_RE = re.compile(
    r"^\s*(automatic reply:|out of (the )?office|auto-?reply:|auto reply:|abwesenheitsnotiz|réponse automatique)",
    re.IGNORECASE,
)
_REPORT_PARTS = {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}


def automatic_reason(msg: Message, from_address: str, own_addresses: Iterable[str]) -> str | None:
    """Why this email was sent by a machine (never answered, never opens a case), or None.

    ``X-Auto-Response-Suppress`` is deliberately not a signal: Outlook sets it on ordinary mail.
    """
    raw_headers = first_raw_headers(msg)
    subject = header_text(msg, raw_headers, "subject") or ""
    return automatic_reason_of(msg, raw_headers, subject, from_address, own_addresses)


def automatic_reason_of(
    msg: Message, raw_headers: dict[str, str], subject: str, from_address: str, own_addresses: Iterable[str]
) -> str | None:
    """:func:`automatic_reason` of an email whose raw headers and subject are already read."""
    auto_submitted = raw_headers.get("auto-submitted")
    if auto_submitted:
        kind = auto_submitted.split(";")[0].strip().lower()
        if kind and kind != "no":
            return f"auto-submitted: {kind}"

    content_type = msg.get_content_type()
    if content_type == "multipart/report":
        report_type = msg.get_param("report-type")
        return f"multipart/report: {report_type}" if isinstance(report_type, str) else "multipart/report"
    for part in _own_parts(msg):
        if part.get_content_type() in _REPORT_PARTS:
            return f"report part: {part.get_content_type()}"

    sender = (from_address or "").lower()
    own = {_plain_address(a) for a in own_addresses}
    if sender and sender in own:
        return f"from our own address: {sender}"
    local_part = sender.split("@", 1)[0]
    if local_part and _DAEMON_SENDER_RE.match(local_part):
        return f"automatic sender: {sender}"

    precedence = (raw_headers.get("precedence") or "").strip().lower()
    if precedence in {"bulk", "list", "junk"}:
        return f"precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in raw_headers:
            return f"{name} header present"
    list_id = raw_headers.get("list-id")
    if list_id is not None:
        return f"list-id: {unsurrogate(list_id)}"

    if _AUTOMATIC_SUBJECT_RE.match(subject):
        return f"automatic reply subject: {subject[:80]}"
    return None


def _own_parts(msg: Message) -> Iterable[Message]:
    """The MIME parts of this email, not descending into attached emails (message/rfc822).

    A customer who forwards a bounce as an attachment has still written a human email.
    """
    yield msg
    if msg.get_content_maintype() == "multipart" and msg.is_multipart():
        for part in msg.get_payload():
            if isinstance(part, Message):
                yield from _own_parts(part)


@functools.lru_cache(maxsize=256)
def _plain_address(address: str) -> str:
    return (email.utils.parseaddr(address)[1] or address).strip().lower()
