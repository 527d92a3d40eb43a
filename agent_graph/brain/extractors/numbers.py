"""Numbers: digits and number words, and ordinals of the attribute's own thing ('3rd floor') or
numbers its description names ('0 for the ground floor')."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import _GENERIC_STEMS, _Candidate, _SpanSet, _stem
from agent_graph.catalog import Attribute

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_UNITS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"])}
_TENS = {w: 10 * i for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], start=2)}
_DIGITS_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_EDGE_PUNCT = "([{\"'“‘)]}”’.,;:!?"
_NOT_COUNTING_ONE = frozenset({"the", "this", "that", "which", "another", "any", "each", "every", "other", "new",
                               "no", "only", "a", "one", "some"})


def _word_number(word: str) -> int | None:
    word = word.lower()
    if word in _UNITS:
        return _UNITS[word]
    if word in _TENS:
        return _TENS[word]
    if word == "dozen":
        return 12
    tens, _, unit = word.partition("-")
    if tens in _TENS and unit in _UNITS and 0 < _UNITS[unit] < 10:
        return _TENS[tens] + _UNITS[unit]
    return None


def _canonical_decimal(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _normalise_number(raw: str) -> str | None:
    value = raw.strip().rstrip(".")
    if _DIGITS_RE.fullmatch(value):
        return _canonical_decimal(Decimal(value.replace(",", "")))
    if re.fullmatch(r"[-+]?\d+,\d{1,2}", value):  # decimal comma: "2,5"
        return _canonical_decimal(Decimal(value.replace(",", ".")))
    words = value.lower().split()
    if words[:1] == ["a"] and words[1:] == ["dozen"]:
        return "12"
    word = _word_number(value) if len(words) == 1 else None
    return None if word is None else str(word)


_NUMBER_WORDS = "|".join(sorted([*_UNITS, *_TENS, "dozen"], key=len, reverse=True))
_NUMBER_TOKEN_RE = re.compile(
    rf"(?<![^\s(\[{{\"'“‘])"
    rf"(?:(?P<digits>[-+]?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?)"
    rf"|(?P<word>(?i:(?:{'|'.join(_TENS)})-(?:{'|'.join(list(_UNITS)[1:10])})|{_NUMBER_WORDS})))"
    rf"(?=[)\]}}\"'”’.,;:!?]*(?:\s|$))"
)
_NEIGHBOUR_RE = re.compile(r"[A-Za-z.]+")


def _number_candidates(ctx: _Context) -> list[_Candidate]:
    """Standalone numbers: whole tokens, not inside dates, money, phone numbers or identifiers."""
    taken = _SpanSet((c.start, c.end) for c in ctx.date_phrases + ctx.money + ctx.phones + ctx.emails)
    found = []
    for match in _NUMBER_TOKEN_RE.finditer(ctx.text):
        start, end = match.span()
        if taken.overlaps(start, end):
            continue
        following = _NEIGHBOUR_RE.match(ctx.text[end:end + 6].lstrip(_EDGE_PUNCT + " "))
        following_word = following.group().lower().rstrip(".") if following else ""
        if match.group("digits"):
            raw = match.group("digits")
            if following_word in {"am", "pm", "a.m", "p.m"} or raw.startswith("+"):
                continue  # a time or a phone prefix
            # Long integers are more likely account numbers unless the attribute's own words are near;
            # leading zeros make an identifier likelier than a quantity, though a meter reads "04417".
            leading_zero = re.match(r"-?0\d", raw) is not None
            long_integer = re.fullmatch(r"-?\d{6,}", raw) is not None
            found.append(_Candidate(_canonical_decimal(Decimal(raw.replace(",", ""))), start, end, "number",
                                    0.35 if leading_zero else 0.5,
                                    needs_keyword=long_integer))
            continue
        raw = match.group("word").lower()
        if raw == "one":
            preceding = re.findall(r"[A-Za-z]+", ctx.text[max(0, start - 12):start])
            if (preceding and preceding[-1].lower() in _NOT_COUNTING_ONE) or following_word == "of":
                continue
        found.append(_Candidate(str(_word_number(raw)), start, end, "number", 0.3 if raw == "one" else 0.45))
    return found


_ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                  "eleventh", "twelfth")
_ORDINAL_RE = re.compile(rf"(?<![\w.,-])(?:(?P<digits>\d{{1,3}})(?:st|nd|rd|th)|(?P<word>(?i:{'|'.join(_ORDINAL_WORDS)})))"
                         rf"(?![\w-])")
_DESCRIBED_NUMBER_RE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s+(?:for|means|=)\s+(?:the\s+|a\s+|an\s+)?([a-z][a-z -]{2,30}?)\s*(?=[,.;)]|$)",
    re.IGNORECASE,
)


def _head_stem(attr: Attribute) -> str | None:
    """The stem of the last word of the name that says what is counted: 'floor' of floor_number."""
    words = [_stem(w) for w in attr.name.split("_") if w]
    return next((w for w in reversed(words) if w not in _GENERIC_STEMS), None)


def _ordinal_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Ordinals of the attribute's own thing ('the 3rd floor' for floor_number); an ordinal of
    anything else is a rank, not the value ('the second driver' says nothing of driver_age)."""
    head = _head_stem(attr)
    found = []
    for match in _ORDINAL_RE.finditer(ctx.text) if head else ():
        following = re.match(r"\s+([^\W\d_]+)", ctx.text[match.end():])
        if following and _stem(following[1]) == head:
            value = match["digits"] or str(_ORDINAL_WORDS.index(match["word"].lower()) + 1)
            found.append(_Candidate(value, match.start(), match.end(), "number", 0.45))
    return found


def _described_number_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Words the description gives a number for: '0 for the ground floor' -> 'ground floor' = 0."""
    found = []
    for number, phrase in _DESCRIBED_NUMBER_RE.findall(attr.description):
        words = r"\s+".join(re.escape(w) for w in phrase.split())
        for match in re.finditer(rf"(?<![\w-]){words}(?![\w-])", ctx.text, re.IGNORECASE):
            found.append(_Candidate(_canonical_decimal(Decimal(number)), match.start(), match.end(), "number", 0.6))
    return found
