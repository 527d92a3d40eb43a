"""Finding the values of several attributes in one text: every finder's candidates scored by how
near the attribute's words they stand (a label always first), then assigned greedily, best first,
so that one span of text never feeds two attributes. ``values_before_intent`` is the stricter
reading used while the intent is unknown."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import (
    LABEL_CONFIDENCE,
    PROXIMITY_BONUS,
    _ATOMIC_TYPES,
    _attribute_keywords,
    _distinctive,
    _overlaps,
)
from agent_graph.brain.extractors.context import _Context
from agent_graph.brain.extractors.labels import _label_candidates
from agent_graph.brain.extractors.registry import type_candidates
from agent_graph.brain.types import ExtractedValue
from agent_graph.catalog import Attribute, AttributeType

if TYPE_CHECKING:
    from agent_graph.brain.extractors.base import _Candidate


def _scored(attr: Attribute, keywords: dict[str, float], ctx: _Context) -> list[tuple[int, float, _Candidate]]:
    """(tier, score, candidate): labels are tier 1 and always beat type-specific finds."""
    scored = [(1, LABEL_CONFIDENCE, c) for c in _label_candidates(attr, ctx)]
    labelled = {(c.start, c.end) for _, _, c in scored}
    for cand in type_candidates(attr, ctx):
        if (cand.start, cand.end) in labelled:
            continue
        score = cand.confidence
        if attr.type in _ATOMIC_TYPES:
            proximity = ctx.proximity(keywords, cand.start, cand.end)
            if cand.needs_keyword and ctx.proximity(_distinctive(keywords), cand.start, cand.end) < 0.5:
                continue
            score += PROXIMITY_BONUS * proximity
        scored.append((0, round(score, 6), cand))
    return scored


def extract_values(text: str, attributes: list[Attribute], *, now: datetime, region: str = "US",
                   own_addresses: Iterable[str] = ()) -> list[ExtractedValue]:
    """Every attribute found in text, at most one value per attribute (the best).

    ``value`` is the normalised value, ``span`` the exact substring of ``text`` it came from,
    ``extractor`` the method ('label', 'pattern', 'email', ...), ``confidence`` in [0, 1].
    Results follow the order of ``attributes``.
    """
    ctx = _Context(text, now, region, own_addresses)
    keywords = _attribute_keywords(attributes)
    pairs = [
        (tier, score, index, cand)
        for index, attr in enumerate(attributes)
        for tier, score, cand in _scored(attr, keywords[index], ctx)
    ]
    pairs.sort(key=lambda p: (-p[0], -p[1], p[2], p[3].start))
    chosen: dict[int, tuple[float, _Candidate]] = {}
    atomic_spans: list[tuple[int, int]] = []
    typed_spans: set[tuple[AttributeType, int, int]] = set()
    for _, score, index, cand in pairs:
        attr_type = attributes[index].type
        if index in chosen or (attr_type, cand.start, cand.end) in typed_spans:
            continue
        atomic = attr_type in _ATOMIC_TYPES
        if atomic and any(_overlaps((cand.start, cand.end), taken) for taken in atomic_spans):
            continue
        chosen[index] = (score, cand)
        typed_spans.add((attr_type, cand.start, cand.end))
        if atomic:
            atomic_spans.append((cand.start, cand.end))
    return [_extracted(attributes[index], cand, score, text) for index, (score, cand) in sorted(chosen.items())]


def _extracted(attribute: Attribute, cand: _Candidate, score: float, text: str) -> ExtractedValue:
    return ExtractedValue(name=attribute.name, value=cand.value, span=text[cand.start:cand.end],
                          extractor=cand.extractor,
                          confidence=round(min(score, 1.0 if cand.extractor == "label" else 0.9), 4))


# Types whose finders recognise a value by its own shape, whatever the email is about (a string
# by its pattern only: a name or a place means nothing before the request is known).
_SELF_EVIDENT_TYPES = frozenset({AttributeType.STRING, AttributeType.EMAIL, AttributeType.PHONE,
                                 AttributeType.ENUM})


def _self_evident(attr: Attribute) -> bool:
    return attr.type in _SELF_EVIDENT_TYPES and (attr.type is not AttributeType.STRING or bool(attr.pattern))


def values_before_intent(text: str, attributes: list[Attribute], *, now: datetime, region: str = "US",
                         own_addresses: Iterable[str] = ()) -> list[ExtractedValue]:
    """Values that belong to exactly one of ``attributes`` while the intent is still unknown.

    A value is kept when one attribute alone finds it: its label names it ("account no: 5521"),
    or its own shape does (a pattern, an email address, a phone number, an enum phrase) and no
    other attribute finds anything at the same place. Any other type (a date, a number, an amount
    could be anything until the intent says what is asked) counts only after a label. An
    attribute that finds two different values keeps neither.
    """
    ctx = _Context(text, now, region, own_addresses)
    keywords = _attribute_keywords(attributes)
    found = [_scored(attr, keywords[index], ctx) for index, attr in enumerate(attributes)]
    kept = []
    for index, attr in enumerate(attributes):
        alone = [(tier, score, cand) for tier, score, cand in found[index]
                 if (tier == 1 or _self_evident(attr)) and not _found_by_another(found, index, tier, cand)]
        if not alone:
            continue
        best_tier = max(tier for tier, _, _ in alone)
        best = [(score, cand) for tier, score, cand in alone if tier == best_tier]
        if len({cand.value for _, cand in best}) == 1:
            score, cand = max(best, key=lambda pair: pair[0])
            kept.append(_extracted(attr, cand, score, text))
    return kept


def _found_by_another(found: list[list[tuple[int, float, _Candidate]]], index: int, tier: int,
                      cand: _Candidate) -> bool:
    """Whether another attribute finds something at this place: any find shadows a find by shape,
    only another label shadows a label."""
    return any(other_tier >= tier and _overlaps((cand.start, cand.end), (other.start, other.end))
               for other_index, finds in enumerate(found) if other_index != index
               for other_tier, _, other in finds)
