"""Email addresses and phone numbers (``phonenumbers``, read for the catalog's region)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from agent_graph.brain.extractors.base import _Candidate, _strip_span

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_EMAIL_RE = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@lru_cache(maxsize=2048)
def _normalise_email(raw: str) -> str | None:
    value = raw.strip().strip("<>").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _email_candidates(ctx: _Context) -> list[_Candidate]:
    found = []
    for match in _EMAIL_RE.finditer(ctx.text):
        start, end = _strip_span(ctx.text, match.start(), match.end(), ".-")
        value = _normalise_email(ctx.text[start:end])
        if value is not None and value not in ctx.own_addresses:
            found.append(_Candidate(value, start, end, "email", 0.9))
    return found


_PHONE_LIKE = re.compile(r"\+?\(?\d{1,4}\)?(?:[\s.-]+\(?\d{2,5}\)?){2,}")


def _parse_phone(raw: str, region: str) -> str | None:
    """E.164 for a valid number, or for a possible one written like a phone number
    (grouped digits, e.g. the fictional '(555) 123-4567' used in examples)."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number) or _phone_shaped(number, raw.strip()):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _phone_shaped(number: phonenumbers.PhoneNumber, raw: str) -> bool:
    """Not a valid number, but one that may stand for one: the right length, written in groups,
    and, in the North American plan, an area code that can exist (it never starts with 0 or 1).
    So '06 12 34 56 78' in a US catalog is a foreign number missing its country code, not a US
    one: it is not taken, and the agent asks for the number instead of recording a wrong one."""
    if not phonenumbers.is_possible_number(number) or not _PHONE_LIKE.fullmatch(raw):
        return False
    return number.country_code != 1 or phonenumbers.national_significant_number(number)[:1] not in ("0", "1")


def _phone_candidates(ctx: _Context) -> list[_Candidate]:
    found = []
    matcher = phonenumbers.PhoneNumberMatcher(ctx.text, ctx.region, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        valid = phonenumbers.is_valid_number(match.number)
        if not valid and not _phone_shaped(match.number, match.raw_string):
            continue
        value = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        found.append(_Candidate(value, match.start, match.end, "phone", 0.85 if valid else 0.6))
    return found
