"""The customer's new text: the body without quoted history and signature. Values for case fields
are only ever taken from it (docs/behaviour.md, step 4)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from re import Pattern

from mailparser_reply import EmailMessage as ReplyMessage
from mailparser_reply import EmailReplyParser

logger = logging.getLogger(__name__)

#: Languages whose reply headers ("On … wrote:", "Von: … Gesendet: …") the library looks for.
REPLY_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl")


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


class _ReplySplitter(ReplyMessage):  # type: ignore[misc]  # the library ships no types
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
