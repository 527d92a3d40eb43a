"""Building: an RFC 5322 message from fields, the inverse of parsing, for the replay runner,
the outbox and the tests."""

from __future__ import annotations

import email.utils
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, DateHeader, MessageIDHeader, UnstructuredHeader
from email.message import EmailMessage

from agent_graph.intake.headers import HEADERS, POLICY, simple_mailboxes

logger = logging.getLogger(__name__)

def build_email(
    *,
    from_: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message (UTF-8 text/plain) for the replay runner and the outbox.

    Message-IDs are given without <> (as stored) and written with them.
    """
    sent = date if date.tzinfo else date.replace(tzinfo=UTC)
    msg = EmailMessage(policy=POLICY)
    _set_header(msg, "From", from_)
    _set_header(msg, "To", to)
    _set_header(msg, "Subject", subject)
    _set_header(msg, "Date", email.utils.format_datetime(sent))
    _set_header(msg, "Message-ID", _bracket(message_id))
    if in_reply_to:
        _set_header(msg, "In-Reply-To", _bracket(in_reply_to))
    if references:
        _set_header(msg, "References", " ".join(_bracket(ref) for ref in references))
    structure = None
    for name, value in (headers or {}).items():
        if name.lower() in _MIME_STRUCTURE:
            structure = value if name.lower() == "content-type" else structure
            continue
        del msg[name]
        _set_header(msg, name, value)
    msg.set_content(body, charset="utf-8")
    if structure is not None:
        _shape_as(msg, structure)
    return msg.as_bytes()


_MIME_STRUCTURE = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


def _shape_as(msg: EmailMessage, content_type: str) -> None:
    """Give a built text/plain message the structure a recorded ``Content-Type`` names: a multipart
    type (a bounce's ``multipart/report``) holds the text as its first part, with the type's
    parameters; another text type replaces ``plain``. Anything else is dropped with a warning (the
    builder writes its own encoding and MIME-Version)."""
    wanted = EmailMessage(policy=POLICY)
    wanted["Content-Type"] = content_type
    maintype, subtype = wanted.get_content_maintype(), wanted.get_content_subtype()
    if maintype == "multipart":
        msg.make_mixed()
        msg.set_type(f"multipart/{subtype}")
        for key, value in (wanted.get_params() or [])[1:]:
            if key.lower() != "boundary":
                msg.set_param(key, value)
    elif maintype == "text":
        msg.set_type(f"text/{subtype}")
    else:
        logger.warning("recorded Content-Type %r dropped: only multipart and text types are built", content_type)


def _set_header(msg: EmailMessage, name: str, value: str) -> None:
    """``msg[name] = value``, without parsing a value that would be written back unchanged.

    A header set with ``msg[name] = value`` is parsed into a header object, which
    ``as_bytes`` folds back into text, both costly; a raw value (``set_raw``) that fits
    on one line is written as it is. The two give the same bytes when :func:`_writes_verbatim`.
    """
    if _writes_verbatim(name, value):
        msg.set_raw(name, value)
    else:
        msg[name] = value


_PLAIN_TEXT_RE = re.compile(r"[!-~]+(?: [!-~]+)*")
_MSG_ID_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_MSG_ID_RE = re.compile(rf"<{_MSG_ID_ATEXT}(?:\.{_MSG_ID_ATEXT})*@{_MSG_ID_ATEXT}(?:\.{_MSG_ID_ATEXT})*>")


def _writes_verbatim(name: str, value: str) -> bool:
    """Whether the default policy writes a header object made from ``value`` as ``name: value``.

    True for a value that fits on one line and that parsing and refolding give back as it is,
    by the kind of header the registry makes of ``name``: printable ASCII text (no encoded
    word) for an unstructured header, a plain address list, a plain ``<id@domain>``, or a date
    that the date header's own re-formatting leaves unchanged. tests/test_intake_speed_equivalence.py
    compares such values with the std-lib's output.
    """
    if not isinstance(value, str) or len(name) + 2 + len(value) > (POLICY.max_line_length or sys.maxsize):
        return False
    kind = HEADERS[name]
    if issubclass(kind, UnstructuredHeader):
        return "=?" not in value and _PLAIN_TEXT_RE.fullmatch(value) is not None
    if issubclass(kind, AddressHeader):
        return simple_mailboxes(value) is not None
    if issubclass(kind, MessageIDHeader):
        return _SIMPLE_MSG_ID_RE.fullmatch(value) is not None
    if issubclass(kind, DateHeader):
        return _reformatted_date(value) == value
    return False


def _reformatted_date(value: str) -> str | None:
    """What a date header writes for ``value``: the parsed date, formatted anew (None: unparseable)."""
    try:
        return email.utils.format_datetime(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


def _bracket(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"
