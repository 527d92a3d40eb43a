"""What every finder shares: the thresholds, a candidate value and its span, the words and stems
of an attribute (its keywords), and span arithmetic."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from agent_graph.catalog import Attribute, AttributeType

TEXT_MAX_CHARS = 1000
LABEL_CONFIDENCE = 0.95
PROXIMITY_BONUS = 0.25
PROXIMITY_WINDOW = 60  # characters between a keyword and a value for the keyword to count
ENUM_THRESHOLD = 88.0  # rapidfuzz ratio for an enum phrase; high, to avoid false positives
ENUM_FUZZY_MIN_LEN = 6  # shorter phrases must match exactly
STRING_LABEL_MAX_WORDS = 8

# Types whose spans are exclusive: one piece of text is one value. Text and boolean values are
# read from whole passages, which may legitimately contain other values.
_ATOMIC_TYPES = frozenset(
    {AttributeType.STRING, AttributeType.EMAIL, AttributeType.PHONE, AttributeType.DATE,
     AttributeType.NUMBER, AttributeType.MONEY, AttributeType.ENUM}
)


@dataclass(frozen=True)
class _Candidate:
    """A value found at ``text[start:end]``; positions are relative to the text searched."""

    value: str
    start: int
    end: int
    extractor: str
    confidence: float
    needs_keyword: bool = False  # only a value when a word of the attribute stands next to it

    def shifted(self, offset: int, extractor: str | None = None, confidence: float | None = None) -> _Candidate:
        return _Candidate(self.value, self.start + offset, self.end + offset, extractor or self.extractor,
                          self.confidence if confidence is None else confidence)


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "my", "your", "our", "their", "his", "her", "i", "we", "you", "they", "he", "she", "me", "us", "them", "what", "which", "who", "whom", "when", "where", "why", "how", "whether", "than", "then", "there", "here", "do", "does", "did", "done", "have", "has", "had", "having", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "not", "no", "yes", "so", "very", "just", "also", "only", "any", "some", "all", "each", "every", "other", "such", "own", "same", "too", "more", "most", "about", "into", "over", "under", "again", "further", "once", "up", "down", "out", "off", "above", "below", "between", "through", "during", "before", "after", "per", "via", "please", "customer", "customers", "client", "user", "value", "whose", "get", "got", "want", "wants"]
)
_IRREGULAR_STEMS = {"bought": "buy", "paid": "pay", "sent": "send", "came": "come", "gave": "give",
                    "got": "get", "brought": "bring", "sold": "sell", "broke": "break", "broken": "break"}
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "es", "s", "al", "y", "e")


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    """A light suffix-stripping stem, enough to relate 'delivery'/'delivered', 'purchase'/'purchased'."""
    word = word.lower().replace("’", "'")
    if word in _IRREGULAR_STEMS:
        return _IRREGULAR_STEMS[word]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                continue
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=1024)
def _content_stems(phrase: str) -> frozenset[str]:
    words = _WORD_RE.findall(phrase.replace("_", " "))
    return frozenset(_stem(w) for w in words if w.lower() not in _STOPWORDS and len(w) > 1)


def _attribute_keywords(attributes: list[Attribute]) -> list[dict[str, float]]:
    """Per attribute, stems of its name (weight 1) and description (0.6).

    Stems shared by every attribute of the same type ('date' in purchase_date/delivery_date)
    cannot tell them apart, so they are dropped for those attributes.
    """
    result: list[dict[str, float]] = []
    for attr in attributes:
        weights = {stem: 0.6 for stem in _content_stems(attr.description)}
        weights.update({stem: 1.0 for stem in _content_stems(attr.name)})
        result.append(weights)
    for attr_type in dict.fromkeys(a.type for a in attributes):
        indexes = [i for i, a in enumerate(attributes) if a.type is attr_type]
        if len(indexes) < 2:
            continue
        shared = set.intersection(*(set(result[i]) for i in indexes))
        for i in indexes:
            for stem in shared:
                result[i].pop(stem, None)
    return result


def _strip_span(text: str, start: int, end: int, chars: str | None = None) -> tuple[int, int]:
    """Narrow [start, end) so the substring has no leading/trailing ``chars`` (default whitespace)."""
    segment = text[start:end]
    left = len(segment) - len(segment.lstrip(chars))
    right = len(segment.rstrip(chars))
    return (start + left, start + right) if right > left else (start, start)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _non_overlapping(candidates: list[_Candidate]) -> list[_Candidate]:
    """Earliest first, longer first at the same start; later overlapping ones dropped."""
    kept: list[_Candidate] = []
    for cand in sorted(candidates, key=lambda c: (c.start, -(c.end - c.start))):
        if not kept or cand.start >= kept[-1].end:  # kept spans are disjoint and sorted
            kept.append(cand)
    return kept


class _SpanSet:
    """Spans (possibly overlapping) answering 'does [start, end) touch any of them' in O(log n)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self._starts = [start for start, _ in ordered]
        self._max_ends = list(itertools.accumulate((end for _, end in ordered), max))

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, end) - 1
        return index >= 0 and self._max_ends[index] > start


_GENERIC_STEMS = frozenset(_stem(w) for w in ("number", "no", "id", "code", "date", "amount", "address", "value",
                                              "type", "name", "reference", "ref"))


def _distinctive(keywords: dict[str, float]) -> dict[str, float]:
    """Keywords without 'number', 'id'...: 'account number 456123' says nothing of an order number."""
    return {stem: weight for stem, weight in keywords.items() if stem not in _GENERIC_STEMS}
