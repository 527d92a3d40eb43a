"""String values: by the attribute's pattern (a literal prefix restored when the customer left it
out), or without one by what the attribute says it is (a country, a person's full name)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers
from phonenumbers import geocoder

from agent_graph.brain.extractors.base import _STOPWORDS, _WORD_RE, _Candidate, _content_stems, _stem
from agent_graph.brain.extractors.dates import _CALENDAR_WORD_RE
from agent_graph.brain.extractors.free_text import _STREET_WORD_RE, _body_span
from agent_graph.catalog import Attribute

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


_UNSELECTIVE_PROBES = ("", "a", "the", "Hello", "and")


def _split_flags(pattern: str) -> tuple[str, str]:
    """(leading global flags such as '(?i)', the pattern without them and without anchors)."""
    leading = re.match(r"(?:\(\?[aiLmsux]+\))*", pattern)
    flags = leading.group() if leading else ""
    body = re.sub(r"^(?:\^|\\A)", "", pattern[len(flags):])
    return flags, re.sub(r"(?<!\\)(?:\$|\\Z|\\z)$", "", body)


def _wrapped(flags: str, body: str) -> str:
    """Search form of a pattern: not inside a longer token, nor inside a date or number."""
    return rf"{flags}(?<![A-Za-z0-9])(?<!\d[-/.])(?:{body})(?![A-Za-z0-9])(?![-/.]\d)"


@lru_cache(maxsize=512)
def _search_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(_wrapped(*_split_flags(pattern)), re.IGNORECASE if ignore_case else 0)


@lru_cache(maxsize=512)
def _literal_prefix(pattern: str) -> tuple[str, str, str] | None:
    """('ORD', '-', '\\d{6}') for 'ORD-\\d{6}': a literal prefix customers often leave out."""
    flags, body = _split_flags(pattern)
    match = re.fullmatch(r"([A-Za-z0-9]{2,})(\\?[-_/ ])?([\[\\(].*)", body)
    if flags or not match or "|" in body:
        return None
    prefix, separator, rest = match.groups()
    return prefix, (separator or "").lstrip("\\"), rest


@lru_cache(maxsize=512)
def _prefix_fallback_regex(pattern: str) -> re.Pattern[str] | None:
    parts = _literal_prefix(pattern)
    if parts is None:
        return None
    prefix, _, rest = parts
    body = rf"(?:(?P<prefix>{re.escape(prefix)})[\s_/-]?)?(?P<rest>{rest})"
    return re.compile(_wrapped("", body), re.IGNORECASE)


@lru_cache(maxsize=512)
def _pattern_is_selective(pattern: str) -> bool:
    """A pattern that matches everyday words ('.+', '\\w+') finds nothing meaningful in free text."""
    regex = re.compile(pattern)
    return not any(regex.fullmatch(probe) for probe in _UNSELECTIVE_PROBES)


def _normalise_pattern_string(pattern: str, raw: str) -> str | None:
    """The raw value if it matches the pattern; in other letter case, or with the pattern's literal
    prefix restored ('654321', 'ord 654321' -> 'ORD-654321'), when only that matches."""
    value = raw.strip().strip("\"'“”‘’").strip()
    if value.startswith("#") and not re.fullmatch(pattern, value):
        value = value[1:].strip()
    if not value:
        return None
    variants = [value, value.upper(), value.lower()]
    parts = _literal_prefix(pattern)
    if parts is not None:
        prefix, separator, rest = parts
        loose = re.fullmatch(rf"(?:{re.escape(prefix)}[\s_/-]?)?({rest})", value, re.IGNORECASE)
        if loose:
            variants += [f"{prefix}{separator}{v}" for v in (loose[1], loose[1].upper(), loose[1].lower())]
    return next((v for v in variants if re.fullmatch(pattern, v)), None)


def _normalise_string(attr: Attribute, raw: str) -> str | None:
    """A string value: by the attribute's pattern, or as written without surrounding quotes."""
    if attr.pattern:
        return _normalise_pattern_string(attr.pattern, raw)
    value = re.sub(r"\s+", " ", raw).strip().strip("\"'“”‘’").strip()
    return value or None


def _part_of_larger_value(ctx: _Context, start: int, end: int) -> bool:
    """Whether text[start:end] lies inside a longer date, amount or phone number ('2026' of
    '14 April 2026', '1250' of '$1250'): a piece of another value, not a value of its own."""
    return any(c.start <= start and end <= c.end and (c.start, c.end) != (start, end)
               for c in ctx.date_phrases + ctx.money + ctx.phones)


def _pattern_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Matches of the pattern; else matches ignoring case; else matches missing the literal prefix.
    A match that is only a piece of a longer date, amount or phone number does not count."""
    pattern = attr.pattern
    if pattern is None or not _pattern_is_selective(pattern):
        return []
    for ignore_case, confidence in ((False, 0.9), (True, 0.75)):
        found = []
        for match in _search_regex(pattern, ignore_case).finditer(ctx.text):
            value = _normalise_pattern_string(pattern, match.group())
            if value is not None and match.end() > match.start() and not _part_of_larger_value(ctx, *match.span()):
                found.append(_Candidate(value, match.start(), match.end(), "pattern", confidence))
        if found:
            return found
    fallback = _prefix_fallback_regex(pattern)
    found = []
    for match in fallback.finditer(ctx.text) if fallback else ():
        value = _normalise_pattern_string(pattern, match.group())
        if value is not None and not _part_of_larger_value(ctx, *match.span()):
            # without its prefix the value is just digits: only trusted next to the attribute's words
            found.append(_Candidate(value, match.start(), match.end(), "pattern", 0.7 if match["prefix"] else 0.6,
                                    needs_keyword=not match["prefix"]))
    return found


# ==========================================================================================
# string (no pattern): a country, a person's name
# ==========================================================================================

_TRAILING_PREPOSITION_RE = re.compile(r"\b(to|from|in|at|into)\W*$", re.IGNORECASE)
_PERSON_NAME_CUE_RE = re.compile(r"\b(?:full|first|last|given|family)[\s_]name|\bsurname", re.IGNORECASE)
_NAME_SEPARATOR_RE = re.compile(r"[ \t]+|-")
_NAME_WORDS = (2, 3)  # a person's full name: first name and surname, maybe a middle name


@lru_cache(maxsize=1)
def _country_regex() -> tuple[re.Pattern[str], dict[str, str]]:
    """Country names in English (phonenumbers' name of each region) and their written form, by lower case."""
    examples = (phonenumbers.example_number(region) for region in phonenumbers.SUPPORTED_REGIONS)
    names = {name.lower(): name for number in examples
             if number and (name := geocoder.country_name_for_number(number, "en"))}
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE), names


def _country_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Country names, for an attribute that is a country. Written as a name, or in lower case by
    a writer who uses no capitals at all ('flying to jamaica'). A country right after the
    preposition the description ends with is the likelier one: 'the country you are travelling
    to' prefers 'to Portugal' over 'blocked in Italy'."""
    if _stem("country") not in _content_stems(f"{attr.name} {attr.description}"):
        return []
    regex, names = _country_regex()
    lower_case_writer = not any(c.isupper() for c in ctx.text)
    preposition = _TRAILING_PREPOSITION_RE.search(attr.description.strip())
    found = []
    for match in regex.finditer(ctx.text):
        name = names[match.group().lower()]
        if match.group() == name or lower_case_writer:
            described = preposition is not None and bool(
                re.search(rf"\b{preposition[1]}\s+$", ctx.text[:match.start()], re.IGNORECASE))
            found.append(_Candidate(name, match.start(), match.end(), "string", 0.7 if described else 0.6))
    return found


def _name_runs(ctx: _Context, start: int, end: int) -> Iterable[tuple[int, int, int]]:
    """(start, end, word count) of runs of capitalised words ('Marek Nowak', 'Main Street') in text[start:end]."""
    run: list[re.Match[str]] = []
    for match in [*_WORD_RE.finditer(ctx.text, start, end), None]:
        word = match.group() if match else ""
        capitalised = match is not None and word[:1].isupper() and not (len(word) > 1 and word.isupper()) \
            and word.lower() not in _STOPWORDS and not _CALENDAR_WORD_RE.fullmatch(word)
        if capitalised and match is not None and run and _NAME_SEPARATOR_RE.fullmatch(ctx.text[run[-1].end():match.start()]):
            run.append(match)
            continue
        if run:
            yield run[0].start(), run[-1].end(), len(run)
        run = [match] if capitalised and match is not None else []


def _person_name_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """Full names in the message body (not its greeting or signature), for an attribute that is a
    person's full name; not street names ('Main Street')."""
    if not _PERSON_NAME_CUE_RE.search(f"{attr.name} {attr.description}"):
        return []
    return [_Candidate(ctx.text[start:end], start, end, "string", 0.5)
            for start, end, count in _name_runs(ctx, *_body_span(ctx.text))
            if count in _NAME_WORDS and not _STREET_WORD_RE.fullmatch(ctx.text[start:end].split()[-1])]


def _plain_string_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """A string without a pattern, found by what the attribute says it is."""
    return _country_candidates(attr, ctx) + _person_name_candidates(attr, ctx)
