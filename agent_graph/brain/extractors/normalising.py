"""Normalising and comparing a value given for an attribute (an expected value in an eval file, or
a value a language model proposed)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from agent_graph.brain.extractors.money import _split_money
from agent_graph.brain.extractors.numbers import _normalise_number
from agent_graph.brain.extractors.registry import NORMALISERS
from agent_graph.catalog import Attribute, AttributeType


def normalise_value(attribute: Attribute, raw: str, *, now: datetime | None = None, region: str = "US") -> str | None:
    """Validate and normalise a value given for this attribute (an expected value in an eval file,
    or a value a language model proposed). None when the value is not valid for the type/pattern."""
    if raw is None:
        return None
    raw = str(raw)
    if not raw.strip():
        return None
    return NORMALISERS[attribute.type](attribute, raw, now, region)


def _loose(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


def values_equal(attribute: Attribute, expected: str, actual: str) -> bool:
    """Compare an expected value (as a person would write it in a test file) with a stored one.

    Case- and whitespace-insensitive; dates as ISO dates, numbers numerically, money by amount
    (and currency when the expected value names one), enums by value id, booleans by truth.
    """
    if expected is None or actual is None:
        return expected is actual
    expected, actual = str(expected), str(actual)
    if _loose(expected) == _loose(actual):
        return True
    if attribute.type is AttributeType.MONEY:
        wanted, got = _split_money(expected), _split_money(actual)
        if wanted is None or got is None:
            return False
        return wanted[0] == got[0] and (wanted[1] is None or wanted[1] == got[1])
    if attribute.type is AttributeType.NUMBER:
        wanted_n, got_n = _normalise_number(expected), _normalise_number(actual)
        return wanted_n is not None and got_n is not None and Decimal(wanted_n) == Decimal(got_n)
    if attribute.type in (AttributeType.TEXT, AttributeType.STRING) and not attribute.pattern:
        return False
    wanted_v = normalise_value(attribute, expected)
    got_v = normalise_value(attribute, actual)
    return wanted_v is not None and got_v is not None and _loose(wanted_v) == _loose(got_v)
