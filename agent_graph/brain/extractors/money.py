"""Amounts of money, with their currency when the text names one (``price-parser``)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from price_parser import Price

from agent_graph.brain.extractors.base import _Candidate

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_SYMBOLS = {"us$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_CODES = frozenset({"USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "CNY", "INR", "SEK", "NOK", "DKK", "NZD",
                    "MXN", "BRL", "PLN"})
_CURRENCY_WORDS = {"dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD", "euro": "EUR",
                   "euros": "EUR", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "yen": "JPY"}
_AMOUNT = r"\d{1,3}(?:[,.]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CODE_ALT = "|".join(sorted(_CODES))
_WORD_ALT = "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True))
_MONEY_RE = re.compile(
    rf"(?P<pre>US\$|[$€£¥]|\b(?:{_CODE_ALT})\b)\s?(?P<amt1>{_AMOUNT})(?![\d,.]*\d)"
    rf"|(?<![\w.,])(?P<amt2>{_AMOUNT})\s?(?P<post>[$€£¥]|(?:{_CODE_ALT}|{_WORD_ALT})\b)",
    re.IGNORECASE,
)
_BARE_AMOUNT_RE = re.compile(rf"(?:{_AMOUNT})")


def _currency_code(token: str) -> str | None:
    token = token.strip().lower()
    if token in _SYMBOLS:
        return _SYMBOLS[token]
    if token.upper() in _CODES:
        return token.upper()
    return _CURRENCY_WORDS.get(token)


def _parse_amount(raw: str) -> Decimal | None:
    amount = Price.fromstring(raw).amount
    return None if amount is None else Decimal(amount).quantize(Decimal("0.01"))


def _money_string(amount: Decimal, currency: str | None) -> str:
    return f"{amount:.2f} {currency}" if currency else f"{amount:.2f}"


def _money_candidates(ctx: _Context) -> list[_Candidate]:
    found = []
    for match in _MONEY_RE.finditer(ctx.text):
        amount = _parse_amount(match.group("amt1") or match.group("amt2"))
        currency = _currency_code(match.group("pre") or match.group("post"))
        if amount is not None and currency is not None:
            found.append(_Candidate(_money_string(amount, currency), match.start(), match.end(), "money", 0.85))
    return found


def _normalise_money(raw: str) -> str | None:
    value = raw.strip()
    match = _MONEY_RE.fullmatch(value)
    if match:
        amount = _parse_amount(match.group("amt1") or match.group("amt2"))
        currency = _currency_code(match.group("pre") or match.group("post"))
        return None if amount is None else _money_string(amount, currency)
    if _BARE_AMOUNT_RE.fullmatch(value):
        amount = _parse_amount(value)
        return None if amount is None else _money_string(amount, None)
    return None


def _split_money(value: str) -> tuple[Decimal, str | None] | None:
    normalised = _normalise_money(value)
    if normalised is None:
        return None
    amount, _, currency = normalised.partition(" ")
    return Decimal(amount), currency or None
