"""Labels: the attribute's name (or a short form) followed by ``:``, ``is``, ``=`` or ``#`` and a
value valid for its type ("Order number: A-10442", "my serial number is SN-4471")."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import (
    LABEL_CONFIDENCE,
    STRING_LABEL_MAX_WORDS,
    _STOPWORDS,
    _Candidate,
    _strip_span,
)
from agent_graph.brain.extractors.normalising import normalise_value
from agent_graph.brain.extractors.numbers import _EDGE_PUNCT
from agent_graph.brain.extractors.registry import type_candidates
from agent_graph.catalog import Attribute, AttributeType

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_WORD_VARIANTS = {
    "number": r"(?:numbers?|no\.?|nr\.?|num\.?|#)",
    "no": r"(?:numbers?|no\.?|nr\.?|num\.?|#)",
    "id": r"(?:id|#|numbers?|no\.?)",
    "email": r"e-?mail",
    "phone": r"(?:phone|telephone|tel\.?)",
}
_GENERIC_TAIL = frozenset({"number", "no", "id", "date", "address", "amount"})
_QUALIFIERS = frozenset({"contact", "customer", "client", "user", "preferred", "primary", "main", "current", "new",
                         "your", "my", "product", "item", "device", "appliance"})
# Separators never run past the end of the line: a label alone on its line is handled separately.
_STRONG_SEPARATOR = r"[ \t]*(?:[:=]|#|[ \t][-–][ \t])[ \t]*#?[ \t]*"
_WEAK_SEPARATOR = r"[ \t]+(?:is|was|are|were|will[ \t]+be|would[ \t]+be|should[ \t]+be)[ \t]*:?[ \t]*#?[ \t]*"


def _words_pattern(words: list[str]) -> str:
    parts = [_WORD_VARIANTS.get(w, re.escape(w) + r"(?:s|es)?") for w in words]
    return r"[\s_-]*".join(parts)


@lru_cache(maxsize=512)
def _label_regex(name: str, attr_type: AttributeType, has_pattern: bool) -> re.Pattern[str]:
    """The full label with any separator; a short form ('order' for order_number) with ':' '#' '='
    only, or also with 'is' when the value is strongly typed ("the order is A-10442")."""
    words = name.split("_")
    full = [_words_pattern(words)]
    if len(words) == 2:
        full.append(_words_pattern([words[1]]) + r"\s+of\s+(?:the\s+)?" + _words_pattern([words[0]]))
    alternatives = [f"(?:{'|'.join(full)})(?:{_STRONG_SEPARATOR}|{_WEAK_SEPARATOR})"]
    short = []
    if len(words) >= 2 and words[-1] in _GENERIC_TAIL:
        short.append(_words_pattern(words[:-1]))  # order_number -> "order"
    if len(words) >= 2 and set(words[:-1]) <= _QUALIFIERS:
        short.append(_words_pattern(words[-1:]))  # contact_email -> "email"
    if short:
        loose_value = attr_type is AttributeType.TEXT or (attr_type is AttributeType.STRING and not has_pattern)
        separator = _STRONG_SEPARATOR if loose_value else f"{_STRONG_SEPARATOR}|{_WEAK_SEPARATOR}"
        alternatives.append(f"(?:{'|'.join(short)})(?:{separator})")
    return re.compile(rf"(?<![\w-])(?:{'|'.join(alternatives)})", re.IGNORECASE)


_PHRASE_END_RE = re.compile(r"[;!?]|\.(?=\s|$)")
_STRING_END_RE = re.compile(r"[;!?]|\.(?=\s|$)|,\s|\s(?:and|but|so|because|as|with|for|from|which|that|please)\s",
                            re.IGNORECASE)


def _label_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    text = ctx.text
    for match in _label_regex(attr.name, attr.type, bool(attr.pattern)).finditer(text):
        start = match.end()
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        strong = re.search(r"[:=]|[-–#]\s*$", match.group()) is not None
        cand = _value_after_label(attr, ctx, start, line_end, strong)
        if cand is not None:
            return [cand]
    return []


def _value_after_label(attr: Attribute, ctx: _Context, start: int, line_end: int,
                       strong: bool = True) -> _Candidate | None:
    text = ctx.text
    if attr.type is AttributeType.TEXT:
        if not text[start:line_end].strip():  # "Reason:" alone on its line: the next paragraph
            paragraph = re.compile(r"\n\s*\n").search(text, line_end)
            line_end = paragraph.start() if paragraph else len(text)
        span = _strip_span(text, start, line_end)
        return _label_value(attr, ctx, *span)
    end_re = _STRING_END_RE if attr.type is AttributeType.STRING and not attr.pattern else _PHRASE_END_RE
    stop = end_re.search(text, start, line_end)
    phrase_end = stop.start() if stop else line_end
    span = _strip_span(text, start, phrase_end, " \t\"'“”‘’()")
    if attr.type is AttributeType.STRING and not attr.pattern:
        return _plain_string_after_label(attr, ctx, *span, strong)
    whole = _label_value(attr, ctx, *span)
    if whole is not None:
        return whole
    inner = type_candidates(attr, ctx.sub(start, phrase_end))
    if inner:
        first = min(inner, key=lambda c: c.start)
        return first.shifted(start, "label", LABEL_CONFIDENCE)
    token = re.match(r"\S+", text[span[0]:span[1]])
    if token:
        token_span = _strip_span(text, span[0], span[0] + token.end(), _EDGE_PUNCT)
        return _label_value(attr, ctx, *token_span)
    return None


_NOT_A_VALUE = frozenset({"missing", "unknown", "unclear", "attached", "below", "above", "here", "somewhere",
                          "printed", "written", "broken", "damaged", "wrong", "invalid", "lost", "correct", "same"})


def _plain_string_after_label(attr: Attribute, ctx: _Context, start: int, end: int,
                              strong: bool) -> _Candidate | None:
    """A label-only string: a few words that do not read like a sentence ('is on the back of the box').
    After 'is' rather than ':', it must also look like a code or a name (a digit or a capital)."""
    raw = ctx.text[start:end]
    words = raw.split()
    if not words or len(words) > STRING_LABEL_MAX_WORDS:
        return None
    first = words[0].lower().strip(_EDGE_PUNCT)
    if first in _STOPWORDS or first in _NOT_A_VALUE:
        return None
    if not strong and not re.search(r"[\dA-Z]", raw):
        return None
    return _label_value(attr, ctx, start, end)


def _label_value(attr: Attribute, ctx: _Context, start: int, end: int) -> _Candidate | None:
    if end <= start:
        return None
    value = normalise_value(attr, ctx.text[start:end], now=ctx.now, region=ctx.region)
    if value is None or (attr.type is AttributeType.EMAIL and value in ctx.own_addresses):
        return None
    return _Candidate(value, start, end, "label", LABEL_CONFIDENCE)
