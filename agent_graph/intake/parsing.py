"""Parsing: raw RFC 5322 / MIME bytes in, a typed :class:`~agent_graph.intake.message.InboundEmail`
out. Pure functions, no database.

* step 1 of docs/behaviour.md needs a stable ``message_id`` (a deterministic one is generated when
  the header is missing, so that a second copy of the same bytes is still a no-op);
* step 2 needs ``in_reply_to`` / ``references``, the sender (and any doubt about it);
* the body text is read once, and cut to :data:`MAX_BODY_CHARS`.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email import errors
from email.message import EmailMessage, Message
from email.parser import BytesParser

from email_validator import EmailNotValidError, validate_email
from inscriptis import get_text

from agent_graph.errors import EmailParseError
from agent_graph.intake.automatic import automatic_reason_of
from agent_graph.intake.headers import (
    POLICY,
    decode_words,
    first_raw_headers,
    header_text,
    simple_mailboxes,
    unsurrogate,
)
from agent_graph.intake.message import InboundEmail
from agent_graph.intake.new_text import separate_new_text

logger = logging.getLogger(__name__)

#: Headers copied into ``InboundEmail.headers`` (names lowercased) when present.
SELECTED_HEADERS: tuple[str, ...] = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "list-id",
    "list-unsubscribe",
    "x-auto-response-suppress",
    "x-failed-recipients",
    "content-type",
    "return-path",
    "reply-to",
)


GENERATED_ID_DOMAIN = "case-agent.invalid"
#: Longest Message-ID kept as it is (``messages.message_id``); a longer one is replaced by its digest.
MAX_MESSAGE_ID_CHARS = 998

#: The most characters of body text read from one email; the rest is left unread (and the cut
#: recorded on the case, see mailroom.receive), so one huge email costs bounded time and memory.
MAX_BODY_CHARS = 1_000_000
#: The most characters of the customer's new text the brain reads: no one writes more in one
#: email, and understanding a 100,000-character text takes seconds (extraction grows faster
#: than the text).
MAX_NEW_TEXT_CHARS = 20_000

_UTF8_BOM = b"\xef\xbb\xbf"


def parse_email(raw: bytes | str, *, own_addresses: Iterable[str] = ()) -> InboundEmail:
    """Parse raw RFC 5322 / MIME source into an :class:`InboundEmail`.

    Raises :class:`EmailParseError` for input that is not an email or has no usable sender.
    Odd charsets, broken transfer encodings and raw 8-bit header bytes never raise: text falls
    back to ``errors='replace'``. A leading UTF-8 byte-order mark is ignored; a body longer than
    :data:`MAX_BODY_CHARS` is cut to it (``body_cut_from``).
    """
    raw_bytes = _as_bytes(raw).removeprefix(_UTF8_BOM)
    if not raw_bytes.strip():
        raise EmailParseError("not an email: the input is empty")
    try:
        msg = BytesParser(policy=POLICY).parsebytes(raw_bytes)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise EmailParseError(f"not an email: {exc}") from exc
    if not isinstance(msg, EmailMessage) or not list(msg.raw_items()):
        raise EmailParseError(f"not an email: no header lines found (input starts with {raw_bytes[:40]!r})")

    raw_headers = first_raw_headers(msg)
    from_address, from_name, sender_doubt = _sender(msg, raw_headers)
    subject = header_text(msg, raw_headers, "subject") or ""
    body_text, body_cut_from = _capped(extract_body_text(msg))

    return InboundEmail(
        message_id=_message_id(raw_headers, raw_bytes),
        in_reply_to=_first_id(header_text(msg, raw_headers, "in-reply-to")),
        references=_ids(header_text(msg, raw_headers, "references")),
        from_address=from_address,
        from_name=from_name,
        sender_doubt=sender_doubt,
        to=_recipients(msg),
        subject=subject,
        date=_date(raw_headers),
        body_text=body_text,
        new_text=separate_new_text(body_text)[:MAX_NEW_TEXT_CHARS],
        headers=_selected_headers(raw_headers),
        automatic_reason=automatic_reason_of(msg, raw_headers, subject, from_address, own_addresses),
        raw=raw_bytes.decode("utf-8", errors="replace"),
        body_cut_from=body_cut_from,
    )


def _as_bytes(raw: bytes | str) -> bytes:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    if isinstance(raw, str):
        # surrogateescape round-trips text that was read with errors="surrogateescape"
        try:
            return raw.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            return raw.encode("utf-8", errors="replace")
    raise EmailParseError(f"not an email: expected bytes or str, got {type(raw).__name__}")


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of every occurrence of an address header."""
    pairs: list[tuple[str, str]] = []
    try:
        for key, value in msg.raw_items():
            if key.lower() == name:
                pairs.extend((unsurrogate(n), unsurrogate(a)) for n, a in _mailboxes(msg, key, value))
    except Exception:
        logger.warning("malformed %s header, parsing it leniently", name)
        raws = [unsurrogate(str(v)) for k, v in msg.raw_items() if k.lower() == name]
        pairs = [(decode_words(n), a) for n, a in email.utils.getaddresses(raws)]
    return [(n.strip(), a.strip().strip("<>")) for n, a in pairs if a and a.strip().strip("<>")]


def _mailboxes(msg: Message, key: str, value: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of one address header, as the message's policy reads it."""
    simple = simple_mailboxes(value)
    if simple is not None:
        return simple
    header = msg.policy.header_fetch_parse(key, value)
    return [(address.display_name or "", address.addr_spec or "") for address in getattr(header, "addresses", ())]


_BARE_DAEMONS = {"mailer-daemon", "postmaster"}


def _sender(msg: Message, raw_headers: dict[str, str]) -> tuple[str, str | None, str | None]:
    """The sender's address, display name, and why that address may not be theirs (None: it is)."""
    mailboxes = _addresses(msg, "from")
    for name, address in mailboxes:
        if "@" in address or address.lower() in _BARE_DAEMONS:
            return address.lower(), name or None, _sender_doubt(msg, mailboxes, name, address)
    raw_from = raw_headers.get("from")
    if raw_from:
        raise EmailParseError(f"no From address: the From header {raw_from[:80]!r} holds no email address")
    raise EmailParseError("no From address: the email has no From header")


#: Something shaped like an address inside a display name ("victim@bank.example" <eve@example.net>).
_ADDRESS_IN_NAME_RE = re.compile(r"[^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _sender_doubt(msg: Message, mailboxes: list[tuple[str, str]], name: str, address: str) -> str | None:
    """Why the From address may not be the sender's own, or None when it is the addr-spec of a
    single, well-formed From mailbox: one From header, one mailbox in it, no parsing defect (the
    std-lib header parser is the reference), a valid addr-spec, and a display name without
    control characters or another address in it."""
    values = [value for key, value in msg.raw_items() if key.lower() == "from"]
    if len(values) != 1:
        return f"the email has {len(values)} From headers"
    if len(mailboxes) != 1:
        return f"the From header names {len(mailboxes)} addresses"
    defect = _address_header_defect(msg, values[0])
    if defect is not None:
        return f"the From header is malformed ({defect})"
    if not valid_addr_spec(address):
        return f"the From address {address[:80]!r} is not a valid address"
    if _CONTROL_RE.search(name):
        return "the From display name holds control characters"
    other = next((found for found in _ADDRESS_IN_NAME_RE.findall(name) if found.lower() != address.lower()), None)
    if other is not None:
        return f"the From display name holds another address ({other[:80]})"
    return None


def _address_header_defect(msg: Message, value: str) -> str | None:
    """What the std-lib parser finds wrong with an address header (obsolete syntax is accepted).

    A plain address list (:func:`simple_mailboxes`) has none, so it is not parsed again
    (``tests/test_intake_speed_equivalence.py`` holds the shortcut to that)."""
    if simple_mailboxes(value) is not None:
        return None
    try:
        header = msg.policy.header_fetch_parse("From", value)
    except Exception as exc:  # e.g. an encoded word that decodes to CR/LF
        return str(exc)
    defects = [d for d in getattr(header, "defects", ()) if not isinstance(d, errors.ObsoleteHeaderDefect)]
    return str(defects[0]) if defects else None


def stranger_reason(customer_email: str, from_address: str, sender_doubt: str | None) -> str | None:
    """Why an email may not speak for a case's customer, or None when it does: its sender must be
    the customer, with an address we can trust (docs/behaviour.md, step 2)."""
    if sender_doubt is not None:
        return f"the sender is ambiguous: {sender_doubt}"
    if not customer_email or from_address.lower() != customer_email.lower():
        return f"the email is from {from_address or 'an unknown sender'}, not from the case's customer"
    return None


@functools.lru_cache(maxsize=1024)
def valid_addr_spec(address: str) -> bool:
    """An address the agent may write to: a syntactically valid addr-spec with a real domain
    (``email-validator``, without a DNS lookup; quoted local parts and special-use domains such
    as ``.invalid`` are refused)."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _recipients(msg: Message) -> list[str]:
    found: list[str] = []
    for header in ("to", "cc"):
        for _, address in _addresses(msg, header):
            address = address.lower()
            if address not in found:
                found.append(address)
    return found


_ID_RE = re.compile(r"<([^<>\s]+)>")


def _ids(value: str | None) -> list[str]:
    """Message-IDs in a header value, without <>, in order (bare ids when no <> are used)."""
    if not value:
        return []
    bracketed = _ID_RE.findall(value)
    if bracketed:
        return [_bounded_id(found) for found in bracketed]
    return [_bounded_id(token) for token in value.split() if "@" in token]


def _bounded_id(message_id: str) -> str:
    """A Message-ID longer than a header line may be (RFC 5322: 998 characters, the store's column) stands
    for itself by its digest, the same wherever it appears, so replies to it still thread."""
    if len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return message_id
    return f"long-{hashlib.sha256(message_id.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}@{GENERATED_ID_DOMAIN}"


def _first_id(value: str | None) -> str | None:
    found = _ids(value)
    return found[0] if found else None


def _message_id(raw_headers: dict[str, str], raw_bytes: bytes) -> str:
    value = raw_headers.get("message-id")
    if value:
        value = unsurrogate(value)
        found = _ID_RE.search(value)
        message_id = found.group(1) if found else value.strip().strip("<>").strip()
        if message_id:
            return _bounded_id(message_id)
    digest = hashlib.sha256(raw_bytes).hexdigest()[:32]
    logger.info("email without Message-ID, using generated-%s@%s", digest, GENERATED_ID_DOMAIN)
    return f"generated-{digest}@{GENERATED_ID_DOMAIN}"


def _date(raw_headers: dict[str, str]) -> datetime | None:
    value = raw_headers.get("date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        logger.info("unparseable Date header %r", value[:80])
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _selected_headers(raw_headers: dict[str, str]) -> dict[str, str]:
    return {name: unsurrogate(raw_headers[name]) for name in SELECTED_HEADERS if name in raw_headers}


def _capped(body: str) -> tuple[str, int | None]:
    """The body cut to MAX_BODY_CHARS, and its length when it was cut (else None)."""
    if len(body) <= MAX_BODY_CHARS:
        return body, None
    logger.warning("body of %d characters cut to the first %d", len(body), MAX_BODY_CHARS)
    return body[:MAX_BODY_CHARS], len(body)


def extract_body_text(msg: EmailMessage) -> str:
    """The text body: the text/plain part, else the text of the text/html part, else "".

    One walk of the MIME tree: ``get_body`` prefers the first text/plain part found anywhere to
    any text/html part, as two walks (plain first, then html) would.
    """
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is not None:
            text = _part_text(part)
            return text if part.get_content_subtype() == "plain" else html_to_text(text)
    except Exception as exc:  # a MIME structure the library cannot walk
        logger.warning("cannot find the body of the email (%s)", exc)
    return ""


def _part_text(part: Message) -> str:
    """Decoded text of a text/* part; never raises on unknown charsets or broken encodings."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception as exc:
        logger.warning(
            "cannot decode %s part (%s), falling back to utf-8 with replacement", part.get_content_type(), exc
        )
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except (LookupError, ValueError):  # unknown charset, or a charset name with a NUL in it
            return payload.decode("utf-8", errors="replace")
    return str(part.get_payload() or "")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (inscriptis keeps the layout of lists and tables)."""
    if not html.strip():
        return ""
    try:
        return str(get_text(html))
    except Exception as exc:  # lxml refuses some documents; a crude strip is better than nothing
        logger.warning("inscriptis could not convert HTML (%s), stripping tags", exc)
        return re.sub(r"<[^>]+>", " ", html)
