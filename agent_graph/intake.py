"""Intake: raw RFC 5322 / MIME bytes in, a typed :class:`InboundEmail` out.

Pure functions, no database. The steps of docs/behaviour.md this module serves:

* step 1 needs a stable ``message_id`` (a deterministic one is generated when the header is
  missing, so that a second copy of the same bytes is still a no-op);
* step 2 needs ``in_reply_to`` / ``references`` and :func:`case_number_in_subject`;
* step 3 needs :func:`automatic_reason`;
* step 4 needs :func:`separate_new_text` (values are only ever taken from ``new_text``).

:func:`build_email` is the inverse used by the replay runner and the outbox.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email import errors, policy
from email.header import decode_header, make_header
from email.headerregistry import (
    AddressHeader,
    BaseHeader,
    DateHeader,
    HeaderRegistry,
    MessageIDHeader,
    UnstructuredHeader,
)
from email.message import EmailMessage, Message
from email.parser import BytesParser
from re import Pattern
from typing import Any

from email_validator import EmailNotValidError, validate_email
from inscriptis import get_text
from mailparser_reply import EmailMessage as ReplyMessage
from mailparser_reply import EmailReplyParser
from pydantic import BaseModel, field_validator

from agent_graph.errors import EmailParseError

logger = logging.getLogger(__name__)

CASE_NUMBER_RE = re.compile(r"\bCAS-\d{6}\b")

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

#: Languages whose reply headers ("On … wrote:", "Von: … Gesendet: …") the library looks for.
REPLY_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl")

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


#: The MIME headers that are read over and over (see _HeaderRegistry), and how many of their
#: values are kept parsed; values longer than _SHARED_MAX_CHARS are not kept (a header object
#: takes ~10 kB and grows with the value).
_SHARED_HEADERS = frozenset({"content-type", "content-transfer-encoding", "content-disposition", "mime-version"})
_SHARED_MAX_VALUES = 256
_SHARED_MAX_CHARS = 200


class _HeaderRegistry(HeaderRegistry):
    """The std-lib header registry without its two avoidable costs.

    * ``HeaderRegistry.__getitem__`` creates a class with ``type()`` for every header object
      (~10 µs and cyclic garbage each); the classes it creates for one name are
      interchangeable, so one is kept per name.
    * The default policy parses a header anew on every access: one email reads its
      Content-Type about ten times (parser, ``get_body``, ``get_content``, automatic_reason),
      ``set_content`` parses it twice, and most emails have the same few MIME header values.
      A header object is a pure function of (name, value), and neither reading nor folding it
      changes it, so those values are parsed once and their objects shared.
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parse_once = functools.lru_cache(maxsize=_SHARED_MAX_VALUES)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if name.lower() in _SHARED_HEADERS and type(value) is str and len(value) <= _SHARED_MAX_CHARS:
            return self._parse_once(name, value)
        return super().__call__(name, value)

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.pop(name.lower(), None)
        self._parse_once.cache_clear()


_HEADERS = _HeaderRegistry()
#: ``policy.default`` with the registry above: the same parsing and output, for less CPU.
_POLICY = policy.default.clone(header_factory=_HEADERS)


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
        return _valid_text(value)


# --------------------------------------------------------------------------------------------
# case numbers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------


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
        msg = BytesParser(policy=_POLICY).parsebytes(raw_bytes)
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise EmailParseError(f"not an email: {exc}") from exc
    if not isinstance(msg, EmailMessage) or not list(msg.raw_items()):
        raise EmailParseError(f"not an email: no header lines found (input starts with {raw_bytes[:40]!r})")

    raw_headers = _first_raw_headers(msg)
    from_address, from_name, sender_doubt = _sender(msg, raw_headers)
    subject = _header_text(msg, raw_headers, "subject") or ""
    body_text, body_cut_from = _capped(extract_body_text(msg))

    return InboundEmail(
        message_id=_message_id(raw_headers, raw_bytes),
        in_reply_to=_first_id(_header_text(msg, raw_headers, "in-reply-to")),
        references=_ids(_header_text(msg, raw_headers, "references")),
        from_address=from_address,
        from_name=from_name,
        sender_doubt=sender_doubt,
        to=_recipients(msg),
        subject=subject,
        date=_date(raw_headers),
        body_text=body_text,
        new_text=separate_new_text(body_text)[:MAX_NEW_TEXT_CHARS],
        headers=_selected_headers(raw_headers),
        automatic_reason=_automatic_reason(msg, raw_headers, subject, from_address, own_addresses),
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


_SURROGATE_ESCAPE_RE = re.compile("[\udc80-\udcff]")
_INVALID_TEXT_RE = re.compile("[\ud800-\udfff\x00]")


def _unsurrogate(text: str, charset: str | None = None) -> str:
    """Repair header text that held raw 8-bit bytes (kept by the parser as surrogate escapes).

    Such bytes are UTF-8 in practice, otherwise the charset the email declares, otherwise
    usually Windows-1252 (undefined bytes become U+FFFD).
    """
    if not _SURROGATE_ESCAPE_RE.search(text):
        return text
    data = text.encode("utf-8", errors="surrogateescape")
    for encoding in ("utf-8", charset):
        if encoding:
            try:
                return data.decode(encoding)
            except (UnicodeDecodeError, LookupError, ValueError):  # ValueError: a charset name with a NUL
                continue
    return data.decode("cp1252", errors="replace")


def _valid_text(value: Any) -> Any:
    """``value`` (text, or a list or dict of it) as valid Unicode: escaped 8-bit bytes decoded,
    any other surrogate and NUL replaced by U+FFFD. A store cannot encode either."""
    if isinstance(value, str):
        if not _INVALID_TEXT_RE.search(value):
            return value
        try:
            value = _unsurrogate(value)
        except UnicodeEncodeError:  # a surrogate that is no escaped byte: replaced below
            pass
        return _INVALID_TEXT_RE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_valid_text(item) for item in value]
    if isinstance(value, dict):
        return {_valid_text(key): _valid_text(item) for key, item in value.items()}
    return value


_FOLD_RE = re.compile(r"\r?\n[ \t]+")


def _first_raw_headers(msg: Message) -> dict[str, str]:
    """The first raw (undecoded, unparsed) value of each header, unfolded, by lowercased name."""
    first: dict[str, str] = {}
    for key, value in msg.raw_items():
        name = key.lower()
        if name not in first:
            first[name] = _unfold(str(value))
    return first


def _unfold(value: str) -> str:
    return _FOLD_RE.sub(" ", value).strip() if "\n" in value else value.strip()


def _header_text(msg: Message, raw_headers: dict[str, str], name: str) -> str | None:
    """A header decoded to text (encoded words resolved), robust against malformed values."""
    raw_value = raw_headers.get(name)
    if raw_value is None:
        return None
    if _SURROGATE_ESCAPE_RE.search(raw_value):
        return _decode_words(_unsurrogate(raw_value, _declared_charset(msg)))
    try:
        value = msg.get(name)
        return str(value).strip() if value is not None else None
    except Exception:  # a header the registry cannot parse: decode it ourselves
        logger.warning("malformed %s header, decoding it leniently: %r", name, raw_value[:80])
        return _decode_words(raw_value)


def _declared_charset(msg: Message) -> str | None:
    """The charset the email's Content-Type declares (for raw 8-bit header bytes), if any."""
    try:
        return msg.get_content_charset()
    except Exception:  # a Content-Type the registry cannot parse
        return None


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value))).strip()
    except Exception:
        return value.strip()


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of every occurrence of an address header."""
    pairs: list[tuple[str, str]] = []
    try:
        for key, value in msg.raw_items():
            if key.lower() == name:
                pairs.extend((_unsurrogate(n), _unsurrogate(a)) for n, a in _mailboxes(msg, key, value))
    except Exception:
        logger.warning("malformed %s header, parsing it leniently", name)
        raws = [_unsurrogate(str(v)) for k, v in msg.raw_items() if k.lower() == name]
        pairs = [(_decode_words(n), a) for n, a in email.utils.getaddresses(raws)]
    return [(n.strip(), a.strip().strip("<>")) for n, a in pairs if a and a.strip().strip("<>")]


def _mailboxes(msg: Message, key: str, value: str) -> list[tuple[str, str]]:
    """The (display name, address) pairs of one address header, as the message's policy reads it."""
    simple = _simple_mailboxes(value)
    if simple is not None:
        return simple
    header = msg.policy.header_fetch_parse(key, value)
    return [(address.display_name or "", address.addr_spec or "") for address in getattr(header, "addresses", ())]


#: RFC 5322 atext without "=" and "?" (which could start an encoded word).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_SIMPLE_MAILBOX_RE = re.compile(
    rf"[ \t]*(?:(?P<name>{_ATEXT}(?:[ \t]+{_ATEXT})*)?[ \t]*<(?P<angled>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))[ \t]*"
)


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """The pairs of a plain address list ("Dana Whitfield <dana@example.com>, b@example.org"), or None.

    The std-lib address parser costs ~70 µs per header; on this plain ASCII subset (no quotes,
    comments, encoded words, groups, dots in names, folding) it returns what this does: each
    name with its whitespace runs collapsed, each address as written. Anything else returns
    None and goes to the std-lib parser.
    """
    pairs: list[tuple[str, str]] = []
    for item in value.split(","):
        found = _SIMPLE_MAILBOX_RE.fullmatch(item)
        if found is None:
            return None
        name = found["name"]
        pairs.append((" ".join(name.split()) if name else "", found["angled"] or found["bare"]))
    return pairs


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

    A plain address list (:func:`_simple_mailboxes`) has none, so it is not parsed again
    (``tests/test_intake_speed_equivalence.py`` holds the shortcut to that)."""
    if _simple_mailboxes(value) is not None:
        return None
    try:
        header = msg.policy.header_fetch_parse("From", value)
    except Exception as exc:  # e.g. an encoded word that decodes to CR/LF
        return str(exc)
    defects = [d for d in header.defects if not isinstance(d, errors.ObsoleteHeaderDefect)]
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
        value = _unsurrogate(value)
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
    return {name: _unsurrogate(raw_headers[name]) for name in SELECTED_HEADERS if name in raw_headers}


# --------------------------------------------------------------------------------------------
# body
# --------------------------------------------------------------------------------------------


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
        return get_text(html)
    except Exception as exc:  # lxml refuses some documents; a crude strip is better than nothing
        logger.warning("inscriptis could not convert HTML (%s), stripping tags", exc)
        return re.sub(r"<[^>]+>", " ", html)


# --------------------------------------------------------------------------------------------
# automatic mail
# --------------------------------------------------------------------------------------------

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
    raw_headers = _first_raw_headers(msg)
    subject = _header_text(msg, raw_headers, "subject") or ""
    return _automatic_reason(msg, raw_headers, subject, from_address, own_addresses)


def _automatic_reason(
    msg: Message, raw_headers: dict[str, str], subject: str, from_address: str, own_addresses: Iterable[str]
) -> str | None:
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
        return f"list-id: {_unsurrogate(list_id)}"

    if _AUTOMATIC_SUBJECT_RE.match(subject):
        return f"automatic reply subject: {subject[:80]}"
    return None


def _own_parts(msg: Message) -> Iterable[Message]:
    """The MIME parts of this email, not descending into attached emails (message/rfc822).

    A customer who forwards a bounce as an attachment has still written a human email.
    """
    yield msg
    if msg.get_content_maintype() == "multipart" and msg.is_multipart():
        for part in msg.get_payload():  # type: ignore[union-attr]
            if isinstance(part, Message):
                yield from _own_parts(part)


@functools.lru_cache(maxsize=256)
def _plain_address(address: str) -> str:
    return (email.utils.parseaddr(address)[1] or address).strip().lower()


# --------------------------------------------------------------------------------------------
# the customer's new text
# --------------------------------------------------------------------------------------------

#: Attribution lines that introduce quoted history. Each needs a digit (a date or time) so that
#: a sentence like "On Monday my colleague wrote:" is not taken for one.
_ATTRIBUTION_RES = (
    re.compile(r"^On\s.*\d.*\bwrote\s?:$", re.IGNORECASE),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Le\s.*\d.*\ba\s+écrit\s?:$", re.IGNORECASE),  # French
    re.compile(r"^Am\s.*\d.*\bschrieb\b.*:$", re.IGNORECASE),  # German
    re.compile(r"^El\s.*\d.*\bescribió\s?:$", re.IGNORECASE),  # Spanish
    re.compile(r"^Op\s.*\d.*\bschreef\b.*:$", re.IGNORECASE),  # Dutch
    re.compile(r"^Il\s.*\d.*\bha\s+scritto\s?:$", re.IGNORECASE),  # Italian
)
#: All of them in one regex: one match per line instead of six.
_ATTRIBUTION_RE = re.compile("|".join(f"(?:{regex.pattern})" for regex in _ATTRIBUTION_RES), re.IGNORECASE)
_SEPARATOR_RE = re.compile(
    r"^-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|message d'origine"
    r"|message transféré|weitergeleitete nachricht)\s*-{2,}$",
    re.IGNORECASE,
)
_BLOCK_FROM_RE = re.compile(r"^\*?(from|von|de|van|da|de la part de)\s?:\*?\s*\S", re.IGNORECASE)
_BLOCK_FIELD_RE = re.compile(
    r"^\*?(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|verzonden|aan|onderwerp"
    r"|inviato|oggetto|enviado|para|asunto)\s?:",
    re.IGNORECASE,
)
#: The field of a header block that carries the send date; a "From:"/"To:" pair without it (or
#: an address) is more likely the customer's own text ("From: 12 Old Street / To: 5 New Road").
_DATE_FIELD_RE = re.compile(
    r"^\W*(sent|date|gesendet|datum|envoyé|date d'envoi|verzonden|inviato|data|enviado|fecha)\s?:",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNATURE_DELIMITER_RE = re.compile(r"^--\s*$")
_MOBILE_SIGNATURE_RE = re.compile(
    r"^(sent from my\s.{1,40}|get outlook for\s.{1,40}|von meinem .{1,40} gesendet)$", re.IGNORECASE
)
_DECORATION_RE = re.compile(r"^[_\-=*~]{3,}$")
_DIGIT_RE = re.compile(r"\d")

_reply_parser = EmailReplyParser(languages=list(REPLY_LANGUAGES))


def _at_line_starts(library_regex: Pattern[str]) -> Pattern[str]:
    r"""The library's header regex, tried only where it can match: at a line start or a newline.

    Each alternative of the library's pattern starts with ``^`` or ``(?:^|\n|...)``
    (tests/test_intake_speed_equivalence.py checks this), so the guard changes no match; it only
    spares the regex engine trying every alternative at every character, half the cost of the
    library on a typical body.
    """
    return re.compile(rf"(?:^|(?=\n))(?:{library_regex.pattern})", library_regex.flags)


_LIBRARY_HEADER_RE = _at_line_starts(ReplyMessage(text="", languages=list(_reply_parser.languages)).HEADER_REGEX)


class _ReplySplitter(ReplyMessage):
    """mail-parser-reply's split of a body into replies, without the work intake never reads.

    ``EmailReplyParser.read`` compiles its header regex anew for every body and searches every
    fragment for signatures and disclaimers; intake reads only each fragment's ``headers`` and
    ``content``, which these overrides leave exactly as the library computes them.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text=text, languages=list(_reply_parser.languages))

    @property
    def HEADER_REGEX(self) -> Pattern[str]:  # the library's name
        return _LIBRARY_HEADER_RE

    def _process_signatures_disclaimers(self, text: str) -> tuple[list[str], str]:
        return [], ""


#: Lines longer than this are never taken for a reply header (and keep the regexes linear).
_MAX_HEADER_LINE = 300
_PLACEHOLDER_OPEN, _PLACEHOLDER_CLOSE = "\ue000", "\ue001"
_PLACEHOLDER_RE = re.compile(f"{_PLACEHOLDER_OPEN}\\d+{_PLACEHOLDER_CLOSE}")


def separate_new_text(body: str) -> str:
    """The customer's new text: ``body`` without quoted history and signature.

    Quoted history is cut at the first reply header (Gmail/Apple Mail "On … wrote:", also
    wrapped onto two lines, "Le … a écrit :", "Am … schrieb …:", "-----Original Message-----",
    an Outlook "From: … Sent: …" block) by our own rules and by ``mail-parser-reply``; ``>``
    lines are always dropped (the library keeps them when there is no header), then a ``-- ``
    signature and a "Sent from my …" line. Sign-off lines such as "Thanks, Dana" are kept.

    When that leaves nothing, the first non-quoted lines before any reply header are returned
    (e.g. a mail that is only a signature); when the reply header is the very first line, the
    unquoted lines after it (answers written inline between ``>`` lines).
    """
    lines = [line.rstrip() for line in (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if not any(lines):
        return ""
    texts = [_unquote(line) for line in lines]
    cut = _quote_start(texts)
    head = "\n".join(lines[:cut] if cut is not None else lines)

    new_text = _tidy(_drop_signature(_drop_quoted(_library_reply(head))))
    if new_text:
        return new_text
    fallback = _tidy(_drop_delimiters(_drop_quoted(head)))
    if fallback:
        return fallback
    if cut is not None and _is_attribution(texts, cut):
        rest = lines[cut + 1 :]
        later = _quote_start(texts[cut + 1 :])
        inline = "\n".join(rest[:later] if later is not None else rest)
        return _tidy(_drop_signature(_drop_quoted(inline))) or _tidy(_drop_quoted(inline))
    return ""


def _library_reply(text: str) -> str:
    """The first fragment ``mail-parser-reply`` finds, or "" when it starts with a reply header.

    Long lines are swapped for short placeholders while the library runs: its header regexes
    backtrack quadratically on a long line starting with "On"/"Am"/..., and a reply header is
    never that long anyway. They are put back in one pass over the text.
    """
    long_lines: dict[str, str] = {}
    masked = text
    if _PLACEHOLDER_OPEN not in text:
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if len(line) > _MAX_HEADER_LINE:
                token = f"{_PLACEHOLDER_OPEN}{index}{_PLACEHOLDER_CLOSE}"
                long_lines[token] = line.strip()
                lines[index] = token
        masked = "\n".join(lines)
    try:
        message = _ReplySplitter(masked).read()
    except Exception as exc:  # the library is regex based; never let it break intake
        logger.warning("mail-parser-reply failed (%s), keeping the text as is", exc)
        return text
    # parse_reply() would return replies[0]: the text before the first header, or, when the
    # text *starts* with a header, the quoted history itself. We keep fragments up to the
    # first header that is plausibly a real one (see _plausible_reply_header).
    kept: list[str] = []
    for reply in message.replies:
        if reply.headers and _plausible_reply_header(reply.headers):
            break
        kept.append(reply.content or "")
    content = "\n".join(kept)
    if not long_lines:
        return content
    return _PLACEHOLDER_RE.sub(lambda found: long_lines.get(found.group(0), found.group(0)), content)


def _quote_start(texts: Sequence[str]) -> int | None:
    """Index of the first line that starts quoted history (see separate_new_text), or None.

    ``texts`` are the body's lines without quote marks (:func:`_unquote`), as for the helpers below.
    """
    for index, text in enumerate(texts):
        if not text:
            continue
        if _is_attribution(texts, index) or _SEPARATOR_RE.match(text):
            return index
        if _BLOCK_FROM_RE.match(text) and _block_follows(texts, index):
            return index
    return None


_QUOTE_MARKS_RE = re.compile(r"^(\s*>)+")


def _unquote(line: str) -> str:
    return _QUOTE_MARKS_RE.sub("", line).strip()


def _is_attribution(texts: Sequence[str], index: int) -> bool:
    """An "On … wrote:" line, or one wrapped onto the next line by the mail client."""
    text = texts[index]
    if len(text) > _MAX_HEADER_LINE:
        return False
    if _ATTRIBUTION_RE.match(text):
        return True
    if index + 1 < len(texts):
        following = texts[index + 1]
        if len(following) <= _MAX_HEADER_LINE:
            return _ATTRIBUTION_RE.match(f"{text} {following}") is not None
    return False


def _block_follows(texts: Sequence[str], index: int) -> bool:
    """True when a "From:" line starts a header block: Sent:/Date:/To:/Subject: lines follow,
    and the block names an address or a send date."""
    fields = [text for text in texts[index + 1 : index + 6] if _BLOCK_FIELD_RE.match(text)]
    if not fields:
        return False
    return "@" in texts[index] or any(_DATE_FIELD_RE.match(text) or "@" in text for text in fields)


def _plausible_reply_header(header: str) -> bool:
    """Whether a reply header found by mail-parser-reply really introduces quoted history.

    The library cuts at any two lines like "From: …" / "To: …" and at any "On … wrote:" line;
    we accept a cut only with an address, a send-date field, a separator, or a digit (a date)
    in a one- or two-line attribution.
    """
    text = "\n".join(_unquote(line) for line in header.strip().split("\n"))
    if "@" in text or _DATE_FIELD_RE.search(text) or _SEPARATOR_RE.match(text):
        return True
    if "original message" in text.lower():
        return True
    return text.count("\n") <= 1 and text.endswith(":") and bool(_DIGIT_RE.search(text))


def _drop_quoted(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))


def _drop_delimiters(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not _SIGNATURE_DELIMITER_RE.match(line.strip()))


def _drop_signature(text: str) -> str:
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER_RE.match(line.strip()):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or _MOBILE_SIGNATURE_RE.match(lines[-1].strip())):
        lines.pop()
    return "\n".join(lines)


def _tidy(text: str) -> str:
    """Strip blank and decoration lines (underscore/dash rules) at the ends, collapse blank runs."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and (not lines[-1].strip() or _DECORATION_RE.match(lines[-1].strip())):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    collapsed: list[str] = []
    for line in lines:
        if not line.strip() and collapsed and not collapsed[-1].strip():
            continue
        collapsed.append(line)
    return "\n".join(collapsed).strip()


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------


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
    msg = EmailMessage(policy=_POLICY)
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
    wanted = EmailMessage(policy=_POLICY)
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
    ``as_bytes`` folds back into text (~60 µs together); a raw value (``set_raw``) that fits
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
    if not isinstance(value, str) or len(name) + 2 + len(value) > (_POLICY.max_line_length or sys.maxsize):
        return False
    kind = _HEADERS[name]
    if issubclass(kind, UnstructuredHeader):
        return "=?" not in value and _PLAIN_TEXT_RE.fullmatch(value) is not None
    if issubclass(kind, AddressHeader):
        return _simple_mailboxes(value) is not None
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
