"""The registry from attribute type to the value kind that reads it: its finder (candidates in a
text) and its normaliser (a value given for the attribute, checked and put in its canonical form).

Every :class:`~agent_graph.catalog.AttributeType` has one of each (tests/test_extractors.py checks
it): a new type is added here, with the module of its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.booleans import _boolean_candidates, _normalise_boolean
from agent_graph.brain.extractors.contacts import _normalise_email, _parse_phone
from agent_graph.brain.extractors.dates import _normalise_date, _prefers_future
from agent_graph.brain.extractors.enums import _enum_candidates, _normalise_enum
from agent_graph.brain.extractors.free_text import _clean_text, _text_candidates
from agent_graph.brain.extractors.money import _normalise_money
from agent_graph.brain.extractors.numbers import _described_number_candidates, _normalise_number, _ordinal_candidates
from agent_graph.brain.extractors.strings import _normalise_string, _pattern_candidates, _plain_string_candidates
from agent_graph.catalog import Attribute, AttributeType

if TYPE_CHECKING:
    from agent_graph.brain.extractors.base import _Candidate
    from agent_graph.brain.extractors.context import _Context

Finder = Callable[[Attribute, "_Context"], list["_Candidate"]]
"""The candidate values of an attribute in a text."""
Normaliser = Callable[[Attribute, str, datetime | None, str], str | None]
"""A value given for an attribute (with the time and region to read it by) in canonical form, or None."""


def _strings(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    return _pattern_candidates(attr, ctx) if attr.pattern else _plain_string_candidates(attr, ctx)


def _numbers(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    return ctx.numbers + _ordinal_candidates(attr, ctx) + _described_number_candidates(attr, ctx)


FINDERS: dict[AttributeType, Finder] = {
    AttributeType.STRING: _strings,
    AttributeType.TEXT: _text_candidates,
    AttributeType.EMAIL: lambda attr, ctx: ctx.emails,
    AttributeType.PHONE: lambda attr, ctx: ctx.phones,
    AttributeType.DATE: lambda attr, ctx: ctx.dates(_prefers_future(attr)),
    AttributeType.NUMBER: _numbers,
    AttributeType.MONEY: lambda attr, ctx: ctx.money,
    AttributeType.ENUM: _enum_candidates,
    AttributeType.BOOLEAN: _boolean_candidates,
}

NORMALISERS: dict[AttributeType, Normaliser] = {
    AttributeType.STRING: lambda attr, raw, now, region: _normalise_string(attr, raw),
    AttributeType.TEXT: lambda attr, raw, now, region: _clean_text(raw) or None,
    AttributeType.EMAIL: lambda attr, raw, now, region: _normalise_email(raw),
    AttributeType.PHONE: lambda attr, raw, now, region: _parse_phone(raw, (region or "US").upper()),
    AttributeType.DATE: lambda attr, raw, now, region: _normalise_date(raw, now, region, _prefers_future(attr)),
    AttributeType.NUMBER: lambda attr, raw, now, region: _normalise_number(raw),
    AttributeType.MONEY: lambda attr, raw, now, region: _normalise_money(raw),
    AttributeType.ENUM: lambda attr, raw, now, region: _normalise_enum(attr, raw),
    AttributeType.BOOLEAN: lambda attr, raw, now, region: _normalise_boolean(raw),
}


def type_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """The candidates the finder of the attribute's type finds."""
    return FINDERS[attr.type](attr, ctx)
