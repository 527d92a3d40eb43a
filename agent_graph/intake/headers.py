"""Reading and writing headers: the MIME policy both ways use, header text repaired and decoded,
and the plain address lists read without the std-lib parser.

:class:`_HeaderRegistry` and :func:`simple_mailboxes` skip work the std-lib would do for the same
result; tests/test_intake_speed_equivalence.py holds them to that.
"""

from __future__ import annotations

import functools
import logging
import re
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from typing import Any

logger = logging.getLogger(__name__)

#: The MIME headers that are read over and over (see _HeaderRegistry), and how many of their
#: values are kept parsed; values longer than _SHARED_MAX_CHARS are not kept (a header object
#: takes ~10 kB and grows with the value).
_SHARED_HEADERS = frozenset({"content-type", "content-transfer-encoding", "content-disposition", "mime-version"})
_SHARED_MAX_VALUES = 256
_SHARED_MAX_CHARS = 200


class _HeaderRegistry(HeaderRegistry):
    """The std-lib header registry without its two avoidable costs.

    * ``HeaderRegistry.__getitem__`` creates a class with ``type()`` for every header object
      (CPU and cyclic garbage each); the classes it creates for one name are
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


HEADERS = _HeaderRegistry()
#: ``policy.default`` with the registry above: the same parsing and output, for less CPU.
POLICY = policy.default.clone(header_factory=HEADERS)


_SURROGATE_ESCAPE_RE = re.compile("[\udc80-\udcff]")
_INVALID_TEXT_RE = re.compile("[\ud800-\udfff\x00]")


def unsurrogate(text: str, charset: str | None = None) -> str:
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


def valid_text(value: Any) -> Any:
    """``value`` (text, or a list or dict of it) as valid Unicode: escaped 8-bit bytes decoded,
    any other surrogate and NUL replaced by U+FFFD. A store cannot encode either."""
    if isinstance(value, str):
        if not _INVALID_TEXT_RE.search(value):
            return value
        try:
            value = unsurrogate(value)
        except UnicodeEncodeError:  # a surrogate that is no escaped byte: replaced below
            pass
        return _INVALID_TEXT_RE.sub("\ufffd", value)
    if isinstance(value, list):
        return [valid_text(item) for item in value]
    if isinstance(value, dict):
        return {valid_text(key): valid_text(item) for key, item in value.items()}
    return value


_FOLD_RE = re.compile(r"\r?\n[ \t]+")


def first_raw_headers(msg: Message) -> dict[str, str]:
    """The first raw (undecoded, unparsed) value of each header, unfolded, by lowercased name."""
    first: dict[str, str] = {}
    for key, value in msg.raw_items():
        name = key.lower()
        if name not in first:
            first[name] = _unfold(str(value))
    return first


def _unfold(value: str) -> str:
    return _FOLD_RE.sub(" ", value).strip() if "\n" in value else value.strip()


def header_text(msg: Message, raw_headers: dict[str, str], name: str) -> str | None:
    """A header decoded to text (encoded words resolved), robust against malformed values."""
    raw_value = raw_headers.get(name)
    if raw_value is None:
        return None
    if _SURROGATE_ESCAPE_RE.search(raw_value):
        return decode_words(unsurrogate(raw_value, _declared_charset(msg)))
    try:
        value = msg.get(name)
        return str(value).strip() if value is not None else None
    except Exception:  # a header the registry cannot parse: decode it ourselves
        logger.warning("malformed %s header, decoding it leniently: %r", name, raw_value[:80])
        return decode_words(raw_value)


def _declared_charset(msg: Message) -> str | None:
    """The charset the email's Content-Type declares (for raw 8-bit header bytes), if any."""
    try:
        return msg.get_content_charset()
    except Exception:  # a Content-Type the registry cannot parse
        return None


def decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value))).strip()
    except Exception:
        return value.strip()


#: RFC 5322 atext without "=" and "?" (which could start an encoded word).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_SIMPLE_MAILBOX_RE = re.compile(
    rf"[ \t]*(?:(?P<name>{_ATEXT}(?:[ \t]+{_ATEXT})*)?[ \t]*<(?P<angled>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))[ \t]*"
)


def simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """The pairs of a plain address list ("Dana Whitfield <dana@example.com>, b@example.org"), or None.

    The std-lib address parser is slow; on this plain ASCII subset (no quotes,
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
