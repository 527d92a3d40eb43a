"""Free text: the customer's own words without greeting and sign-off, or the sentence that names
the attribute (a street address, a description of what happened)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import (
    TEXT_MAX_CHARS,
    _GENERIC_STEMS,
    _Candidate,
    _content_stems,
    _stem,
    _strip_span,
)
from agent_graph.catalog import Attribute

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_FRIENDLY = r"(?:there|team|all|everyone|support|folks|guys|sir|madam|or|and|customer|service|[A-Z][\w.'-]*)"
_GREETING = (r"(?i:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening)"
             r"|to\s+whom\s+it\s+may\s+concern)")
_GREETING_LINE_RE = re.compile(rf"\s*{_GREETING}(?:\s+{_FRIENDLY}){{0,3}}\s*[,!:.]*\s*")
_GREETING_PREFIX_RE = re.compile(rf"\s*{_GREETING}(?:\s+{_FRIENDLY}){{0,3}}\s*[,!:—-]\s*")
_SIGN_OFF_RE = re.compile(
    r"\s*(?i:(?:(?:many|big|kind|warm|best|warmest|kindest)\s+)?"
    r"(?:thanks|thank\s+you|thx|ty|cheers|regards|best|best\s+wishes|sincerely|respectfully|take\s+care"
    r"|all\s+the\s+best|yours(?:\s+(?:truly|sincerely|faithfully))?)"
    r"(?:\s+(?:so\s+much|very\s+much|a\s+lot|in\s+advance|again))?)"
    r"\s*[,.!]*\s*(?:[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,2})?\s*[.!]*\s*"
)
_TRAILING_THANKS_RE = re.compile(
    r"(?<=[.!?])\s+(?i:thanks|thank\s+you|thx)(?i:\s+(?:so\s+much|very\s+much|a\s+lot|in\s+advance))?\s*[.!]*\s*$"
)


_LONE_NAME_RE = re.compile(r"\s*[-–—~]*\s*[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,2}\s*")


def _clean_text(raw: str) -> str:
    return re.sub(r"\s+", " ", raw).strip()[:TEXT_MAX_CHARS].rstrip()


def _body_span(text: str) -> tuple[int, int]:
    """The text without greeting lines at the top and the sign-off (and what follows it) at the end."""
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]*", text) if m.group().strip()]
    if lines and _GREETING_LINE_RE.fullmatch(text[lines[0][0]:lines[0][1]]):
        lines = lines[1:]
    if lines:
        prefix = _GREETING_PREFIX_RE.match(text, lines[0][0], lines[0][1])
        if prefix and prefix.end() < lines[0][1]:
            lines[0] = (prefix.end(), lines[0][1])
    for index, (start, end) in enumerate(lines):
        if not _SIGN_OFF_RE.fullmatch(text[start:end]):
            continue
        rest = lines[index + 1:]
        if len(rest) <= 4 and all(len(text[s:e].split()) <= 4 for s, e in rest):
            lines = lines[:index]
            break
    if len(lines) > 1 and _LONE_NAME_RE.fullmatch(text[lines[-1][0]:lines[-1][1]]):
        lines = lines[:-1]  # a signature without a sign-off: "…\nKim"
    if not lines:
        return 0, 0
    start, end = lines[0][0], lines[-1][1]
    trailing = _TRAILING_THANKS_RE.search(text, start, end)
    if trailing:
        end = trailing.start()
    return _strip_span(text, start, end)


_NARRATIVE_STEMS = frozenset(_stem(w) for w in (
    "reason", "why", "description", "describe", "details", "detail", "problem", "issue", "explain", "explanation",
    "symptom", "comment", "note", "message", "summary", "happened", "complaint", "feedback", "circumstances",
    "fault", "concern", "context", "story", "situation", "request", "question", "wrong"))
_STREET_WORDS = ("street|st|road|rd|avenue|ave|lane|ln|court|ct|drive|dr|crescent|way|close|place|pl|boulevard|"
                 "blvd|terrace|square|sq|gardens|parkway|pkwy|highway|hwy|row|mews|hill|park|grove|walk|circle|"
                 "cir|view|rise|green|quay|wharf|heights|gate|side|end|estate|cottages|strasse|straße|rue|via|calle")
_STREET_WORD_RE = re.compile(rf"(?i:{_STREET_WORDS})")
_STREET_ADDRESS_RE = re.compile(
    rf"(?:\b(?i:flat|apartment|apt|unit|suite)\.?\s+\w+,?\s+)?"
    rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'’.-]*\s+){{0,4}}(?i:{_STREET_WORDS})\b\.?[^\n]*")
_ADDRESS_END_RE = re.compile(
    r"[.!?]\s+(?=[A-Z])|[.!?]\s*$|\s+(?:and|but|so|as|because|from|on|since|starting|until|by|for|please)\s+")


def _is_narrative(attr: Attribute) -> bool:
    """A free-text attribute that the customer's whole message can answer (a reason, a description)."""
    return bool(_content_stems(f"{attr.name} {attr.description}") & _NARRATIVE_STEMS)


def _text_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Narrative attributes take the message body; others only what clearly is their value: a street
    address for an address, else the sentence that names the attribute."""
    if _is_narrative(attr):
        start, end = _body_span(ctx.text)
        body = ctx.text[start:end]
        return [_Candidate(_clean_text(body), start, end, "text", 0.5)] if len(body.split()) >= 3 else []
    if "address" in attr.name:
        return [_address_candidate(ctx, m.start(), m.end()) for m in _STREET_ADDRESS_RE.finditer(ctx.text)]
    return _naming_sentence(attr, ctx)


def _address_candidate(ctx: _Context, start: int, end: int) -> _Candidate:
    """A street address runs to the end of its line, or of its sentence."""
    sentence_end = _ADDRESS_END_RE.search(ctx.text[start:end])
    if sentence_end:
        end = start + sentence_end.start()
    start, end = _strip_span(ctx.text, start, end, " \t,;:")
    return _Candidate(_clean_text(ctx.text[start:end]), start, end, "text", 0.6)


def _naming_sentence(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    name_stems = _content_stems(attr.name) - _GENERIC_STEMS
    found = []
    for start, end in ctx.sentences:
        sentence = ctx.text[start:end]
        if name_stems and name_stems <= _content_stems(sentence) and len(sentence.split()) >= 3:
            found.append(_Candidate(_clean_text(sentence), start, end, "text", 0.4))
    return found[:1]
