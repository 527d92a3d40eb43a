"""Typed extractors of the offline engine: attribute values found in a customer's text.

Deterministic code, nothing specific to a catalog: every decision comes from the
``Attribute`` (name, description, type, pattern, values, aliases). The text is the
customer's new text (quoted history already removed).

For each attribute, candidates come from two methods:

1. **label** -- the attribute's name (or a short form) followed by ``:``/``is``/``=``/``#``
   and a value valid for the type ("Order number: A-10442"); always preferred;
2. **type-specific** finders (pattern, email, phone, date, number, money, enum, boolean, text),
   scored by how close they sit to the words of the attribute's name and description.

Candidates are then assigned greedily, best first, so that one span of text never feeds two
attributes (two dates in one email go to the attribute whose words are nearest).

Beyond the plain rules: dates are read as past unless the attribute asks for a day to come
('preferred_date', a day of a trip not told in the past); a pattern never matches inside a
longer date, amount or phone number, and one with a literal prefix ('ORD-\\d{6}') also finds
'654321' next to the attribute's words and restores the prefix; ordinals of the attribute's own
thing ('3rd floor') and numbers the description names ('0 for the ground floor') count as
numbers. A string without a pattern is found by what it is: a country for a country, a full
name (two or three capitalised words in the body) for a person's full name; else by its label.
Common date shapes are computed directly; dateparser only reads the rarer ones. A single-word
enum value that is also an everyday word ('may', 'new') is read in its context (_reads_as_value).
``values_before_intent`` is the stricter reading used while the intent is unknown.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache

import dateparser
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import geocoder
from price_parser import Price
from rapidfuzz import fuzz

from agent_graph.brain.types import ExtractedValue
from agent_graph.catalog import Attribute, AttributeType

__all__ = ["extract_values", "normalise_value", "values_before_intent", "values_equal"]

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


# ==========================================================================================
# words, stems and keywords
# ==========================================================================================

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


# ==========================================================================================
# the context of one text: shared, lazily computed candidate lists
# ==========================================================================================

_SENTENCE_BOUNDARY = re.compile(r"[.!?](?:\s|$)|\n")
_CLAUSE_BOUNDARY = re.compile(r"[,;:]\s")


class _Context:
    def __init__(self, text: str, now: datetime, region: str, own_addresses: Iterable[str]) -> None:
        self.text = text
        self.now = now
        self.region = (region or "US").upper()
        self.own_addresses = frozenset(a.strip().lower() for a in own_addresses)
        self._dates: dict[bool, list[_Candidate]] = {}

    def sub(self, start: int, end: int) -> _Context:
        return _Context(self.text[start:end], self.now, self.region, self.own_addresses)

    @cached_property
    def stem_positions(self) -> dict[str, list[tuple[int, int]]]:
        positions: dict[str, list[tuple[int, int]]] = {}
        for match in _WORD_RE.finditer(self.text):
            positions.setdefault(_stem(match.group()), []).append(match.span())
        return positions

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        spans = []
        for match in re.finditer(r"[^.!?\n]+(?:[.!?]+|$)", self.text, re.MULTILINE):
            start, end = _strip_span(self.text, match.start(), match.end())
            if end > start:
                spans.append((start, end))
        return spans

    @cached_property
    def date_phrases(self) -> list[_Candidate]:
        return _date_phrases(self.text)

    def dates(self, future: bool = False) -> list[_Candidate]:
        if future not in self._dates:
            self._dates[future] = _date_candidates(self, future)
        return self._dates[future]

    @cached_property
    def numbers(self) -> list[_Candidate]:
        return _number_candidates(self)

    @cached_property
    def money(self) -> list[_Candidate]:
        return _money_candidates(self)

    @cached_property
    def phones(self) -> list[_Candidate]:
        return _phone_candidates(self)

    @cached_property
    def emails(self) -> list[_Candidate]:
        return _email_candidates(self)

    def proximity(self, keywords: dict[str, float], start: int, end: int) -> float:
        """0..1: how close the nearest keyword is to text[start:end]. Another sentence halves it, and
        so does another clause when the keyword follows the value: words come before the value they
        introduce ('3 May, back the 20th': 'back' introduces the 20th, not 3 May)."""
        best = 0.0
        for stem, weight in keywords.items():
            for k_start, k_end in self.stem_positions.get(stem, ()):
                if k_start >= start and k_end <= end:
                    continue  # a word of the value itself
                gap = max(0, start - k_end, k_start - end)
                if gap > PROXIMITY_WINDOW:
                    continue
                closeness = 1.0 - gap / PROXIMITY_WINDOW
                between = self.text[min(k_end, end):max(k_start, start)]
                if _SENTENCE_BOUNDARY.search(between) or (k_start >= end and _CLAUSE_BOUNDARY.search(between)):
                    closeness *= 0.5
                best = max(best, weight * closeness)
        return best


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


# ==========================================================================================
# string (pattern)
# ==========================================================================================

_UNSELECTIVE_PROBES = ("", "a", "the", "Hello", "and")


def _split_flags(pattern: str) -> tuple[str, str]:
    """(leading global flags such as '(?i)', the pattern without them and without anchors)."""
    flags = re.match(r"(?:\(\?[aiLmsux]+\))*", pattern).group()
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
        capitalised = word[:1].isupper() and not (len(word) > 1 and word.isupper()) \
            and word.lower() not in _STOPWORDS and not _CALENDAR_WORD_RE.fullmatch(word)
        if capitalised and run and _NAME_SEPARATOR_RE.fullmatch(ctx.text[run[-1].end():match.start()]):
            run.append(match)
            continue
        if run:
            yield run[0].start(), run[-1].end(), len(run)
        run = [match] if capitalised else []


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


# ==========================================================================================
# email and phone
# ==========================================================================================

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


# ==========================================================================================
# dates
# ==========================================================================================

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY_FULL = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_WEEKDAY_ANY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\.?|" + _WEEKDAY_FULL
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+\d{4})"
_COUNT = r"(?:\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_FOREIGN_MONTHS = {
    # the month names of the European languages the agent detects most (es, de, fr, it, pt, nl), except
    # those English reads already (april, august, september, november, december)
    **dict.fromkeys(("enero", "januar", "jänner", "janvier", "gennaio", "janeiro", "januari"), 1),
    **dict.fromkeys(("febrero", "februar", "février", "fevrier", "febbraio", "fevereiro", "februari"), 2),
    **dict.fromkeys(("marzo", "märz", "maerz", "mars", "março", "marco", "maart"), 3),
    **dict.fromkeys(("abril", "avril", "aprile"), 4),
    **dict.fromkeys(("mayo", "mai", "maggio", "maio", "mei"), 5),
    **dict.fromkeys(("junio", "juni", "juin", "giugno", "junho"), 6),
    **dict.fromkeys(("julio", "juli", "juillet", "luglio", "julho"), 7),
    **dict.fromkeys(("agosto", "août", "aout", "augustus"), 8),
    **dict.fromkeys(("septiembre", "setiembre", "septembre", "settembre", "setembro"), 9),
    **dict.fromkeys(("octubre", "oktober", "octobre", "ottobre", "outubro"), 10),
    **dict.fromkeys(("noviembre", "novembre", "novembro"), 11),
    **dict.fromkeys(("diciembre", "dezember", "décembre", "decembre", "dicembre", "dezembro"), 12),
}
_FOREIGN_DATE = (rf"\d{{1,2}}(?:\.|º|°|er)?\s+(?:de\s+|di\s+)?(?:{'|'.join(sorted(_FOREIGN_MONTHS, key=len, reverse=True))})"
                 rf"(?:,?\s+(?:de\s+|del\s+)?\d{{4}})?")
_FOREIGN_DATE_RE = re.compile(r"(?P<d>\d{1,2})(?:\.|º|°|er)?\s+(?:de\s+|di\s+)?(?P<m>[^\W\d_]+)"
                              r"(?:,?\s+(?:de\s+|del\s+)?(?P<y>\d{4}))?")
_DATE_PATTERNS = [
    ("iso", r"\d{4}[-/]\d{1,2}[-/]\d{1,2}"),
    ("text", _FOREIGN_DATE),
    ("numeric", r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"),
    ("numeric", r"(?<=\bon )\d{1,2}/\d{1,2}"),
    ("text", rf"(?:(?:{_WEEKDAY_ANY}),?\s+)?{_MONTH}\s+(?:the\s+)?{_ORDINAL}{_YEAR}?"),
    ("text", rf"(?:(?:{_WEEKDAY_ANY}),?\s+)?(?:the\s+)?{_ORDINAL}\s+(?:of\s+)?{_MONTH}{_YEAR}?"),
    ("relative", r"(?:the\s+)?day\s+(?:before\s+yesterday|after\s+tomorrow)|yesterday|today|tomorrow"),
    ("relative", rf"{_COUNT}\s+(?:days?|weeks?|months?|years?)\s+ago|in\s+{_COUNT}\s+(?:days?|weeks?)"),
    ("weekday", rf"(?:(?:last|this|past|previous|next|coming)\s+)?{_WEEKDAY_FULL}"),
    # "the 3rd" alone, but not "the 3rd floor" or "the 3rd of April" (found above)
    ("day_of_month", r"(?<=\bthe )\d{1,2}(?:st|nd|rd|th)(?=\s*(?:[.,;:!?)]|$)|\s+(?:instead|please|would|works?"
                     r"|is|at|or|and|if|then|will|suits?|could|should|as|because|but|so|would|fine|ok)\b)"),
]
_DATE_RES = [(kind, re.compile(rf"(?<![\w/.-]){body}(?![\w/-])", re.IGNORECASE)) for kind, body in _DATE_PATTERNS]
_MDY_REGIONS = frozenset({"US", "PH", "PR", "GU", "AS", "MP", "VI", "UM", "FM", "MH", "PW"})
_FUTURE_CUES = re.compile(r"\b(?:prefer|appointment|schedul|upcoming|future|desired|wish|would like|want|planned"
                          r"|expected|depart|leave|leaving|return|come back|coming back|arriv|pick ?up|collect"
                          r"|travel|trip|journey|fl(?:y|ight)|sail|check.?(?:in|out))", re.IGNORECASE)
# A description telling of a day gone by: 'the day you returned the car', 'when the damage happened'.
_PAST_EVENT = re.compile(r"\b(?!(?:preferr|desir|plann|expect|schedul|need|requir|intend)ed\b)[a-z]{2,}(?<!e)ed\b"
                         r"|\b(?:was|were|did|had|went|came|left|got|paid|bought|sent|took|gave|ago)\b", re.IGNORECASE)


def _date_order(region: str) -> str:
    return "MDY" if region.upper() in _MDY_REGIONS else "DMY"


def _prefers_future(attr: Attribute) -> bool:
    """Dates are read as past ('March 3rd' = the last March 3rd) unless the attribute asks for a
    day to come: 'preferred_date', 'the day you would like the installation', or a day of a trip
    ('departure_date', 'the day you come back', 'pickup_date') not told in the past tense
    ('the day you returned the car')."""
    words = f"{attr.name.replace('_', ' ')} {attr.description}"
    return bool(_FUTURE_CUES.search(words)) and not _PAST_EVENT.search(words)


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _day_of_month(day: int, today: date, future: bool) -> date | None:
    """'the 3rd': the next (or the last) 3rd of a month, counting today."""
    year, month = today.year, today.month
    for _ in range(13):
        found = _date_or_none(year, month, day)
        if found is not None and (found >= today if future else found <= today):
            return found
        month += 1 if future else -1
        if month in (0, 13):
            year, month = year + (1 if future else -1), 12 if month == 0 else 1
    return None


def _without_year(month: int, day: int, today: date, future: bool) -> date | None:
    """The latest past (or the next future) day with this month and day."""
    for year in ((today.year, today.year + 1) if future else (today.year, today.year - 1)):
        result = _date_or_none(year, month, day)
        if result is not None and (result >= today if future else result <= today):
            return result
    return None


def _numeric_date(raw: str, order: str, today: date, future: bool) -> date | None:
    """'03/04/2026': the region's order first; the other order when only it makes a date
    ('25/02/2026' in the US), or when only it lies on the expected side of today."""
    parts = [int(p) for p in re.split(r"[-/.]", raw) if p]
    if len(parts) not in (2, 3):
        return None
    if len(parts) == 3 and re.match(r"\d{4}", raw):
        return _date_or_none(*parts)
    readings = [_numeric_reading(parts, first, today, future) for first in (order, "DMY" if order == "MDY" else "MDY")]
    valid = [d for d in readings if d is not None]
    if len(valid) < 2:
        return valid[0] if valid else None
    expected = [d for d in valid if (d >= today if future else d <= today)]
    return expected[0] if len(expected) == 1 else valid[0]


def _numeric_reading(parts: list[int], order: str, today: date, future: bool) -> date | None:
    month, day = (parts[0], parts[1]) if order == "MDY" else (parts[1], parts[0])
    if len(parts) == 2:
        return _without_year(month, day, today, future)
    year = parts[2]
    if year < 100:
        year += 2000 if 2000 + year <= today.year + 1 else 1900
    return _date_or_none(year, month, day)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAY_PREFIX = r"(?:[a-z]+day|mon|tues?|wed|thur?s?|fri|sat|sun)\.?,?\s+"
_MONTH_DAY_RE = re.compile(
    rf"(?:{_WEEKDAY_PREFIX})?(?:(?P<m1>[a-z]+)\.?\s+(?:the\s+)?(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?:the\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>[a-z]+)\.?)(?:,?\s+(?P<y>\d{{4}}))?"
)


def _month_name_date(phrase: str, today: date, future: bool) -> date | None:
    """'March 3rd', 'the 3rd of March 2025'."""
    match = _MONTH_DAY_RE.fullmatch(phrase)
    if not match or (match["m1"] or match["m2"])[:3] not in _MONTHS:
        return None
    month, day = _MONTHS.index((match["m1"] or match["m2"])[:3]) + 1, int(match["d1"] or match["d2"])
    if match["y"]:
        return _date_or_none(int(match["y"]), month, day)
    return _without_year(month, day, today, future)


def _foreign_month_date(phrase: str, today: date, future: bool) -> date | None:
    """'3 de marzo de 2026', '3. März', '1er avril', '12 maart 2026'."""
    match = _FOREIGN_DATE_RE.fullmatch(phrase)
    month = _FOREIGN_MONTHS.get(match["m"]) if match else None
    if match is None or month is None:
        return None
    if match["y"]:
        return _date_or_none(int(match["y"]), month, int(match["d"]))
    return _without_year(month, int(match["d"]), today, future)


_DAY_OFFSETS = {"today": 0, "yesterday": -1, "tomorrow": 1, "day before yesterday": -2, "day after tomorrow": 2}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNIT_DAYS = {"day": 1, "week": 7}
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}


def _relative_date(phrase: str, today: date, future: bool) -> date | None:
    """Days counted from today ('yesterday', 'in 3 days', 'last Monday'); None for anything else."""
    if phrase in _DAY_OFFSETS:
        return today + timedelta(days=_DAY_OFFSETS[phrase])
    counted = re.fullmatch(r"(?:(in) )?(\w+) (day|week)s?(?: (ago))?", phrase)
    if counted and bool(counted[1]) != bool(counted[4]):
        count = int(counted[2]) if counted[2].isdigit() else _COUNT_WORDS.get(counted[2])
        if count is None:
            return None
        days = count * _UNIT_DAYS[counted[3]]
        return today + timedelta(days=days if counted[1] else -days)
    weekday = re.fullmatch(r"(?:(last|this|next|coming) )?(\w+day)", phrase)
    if not weekday or weekday[2] not in _WEEKDAYS:
        return None
    qualifier, target = weekday[1], _WEEKDAYS.index(weekday[2])
    forward = qualifier in ("next", "coming") or (future and qualifier != "last")
    offset = (target - today.weekday()) % 7 if forward else -((today.weekday() - target) % 7)
    if offset == 0 and qualifier != "this":
        offset = 7 if forward else -7  # "Monday" said on a Monday: a week away, as dateparser reads it
    return today + timedelta(days=offset)


@lru_cache(maxsize=4096)
def _parse_date_phrase(phrase: str, today: date, order: str, future: bool = False) -> date | None:
    """A date phrase found by the candidate regexes, as a date relative to ``today``.

    The common shapes (numeric, 'March 3rd', 'yesterday', 'last Monday', '2 days ago') are
    computed directly -- exact and ~100x faster; dateparser reads the rest ('3 months ago').
    """
    phrase = re.sub(r"\s+", " ", phrase.strip().lower())
    if re.fullmatch(r"[\d/.-]+", phrase):
        return _numeric_date(phrase, order, today, future)
    phrase = re.sub(r"^(?:on|the)\s+", "", phrase)
    phrase = re.sub(r"^(?:past|previous)\s+", "last ", phrase)
    day_only = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", phrase)
    if day_only:
        return _day_of_month(int(day_only.group(1)), today, future)
    quick = _relative_date(phrase, today, future) or _month_name_date(phrase, today, future) \
        or _foreign_month_date(phrase, today, future)
    if quick is not None:
        return quick
    settings = {
        "RELATIVE_BASE": datetime.combine(today, datetime.min.time()).replace(hour=12),
        "PREFER_DATES_FROM": "future" if future else "past",
        "DATE_ORDER": order,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    parsed = dateparser.parse(phrase, languages=["en"], settings=settings)
    return None if parsed is None else parsed.date()


_MAY_VERB_RE = re.compile(r"\b(?:i|you|we|they|he|she|it|this|that|which|who|there)\s+$", re.IGNORECASE)


def _date_phrases(text: str) -> list[_Candidate]:
    """Every date-looking phrase (unparsed, value = the phrase), without overlaps."""
    found = []
    for kind, regex in _DATE_RES:
        for match in regex.finditer(text):
            if "may" in re.findall(r"[A-Za-z]+", match.group()) and _MAY_VERB_RE.search(text, 0, match.start()):
                continue  # 'you may 2 ...': the verb
            confidence = {"relative": 0.75, "weekday": 0.7}.get(kind, 0.8)
            found.append(_Candidate(match.group(), match.start(), match.end(), "date", confidence))
    return _non_overlapping(found)


def _date_candidates(ctx: _Context, future: bool) -> list[_Candidate]:
    today, order = _today(ctx.now), _date_order(ctx.region)
    result = []
    for cand in ctx.date_phrases:
        parsed = _parse_date_phrase(cand.value, today, order, future)
        if parsed is not None:
            result.append(_Candidate(parsed.isoformat(), cand.start, cand.end, "date", cand.confidence))
    return result


def _today(now: datetime | None) -> date:
    return (now or datetime.now()).date()


# ==========================================================================================
# money
# ==========================================================================================

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


# ==========================================================================================
# numbers
# ==========================================================================================

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


# ==========================================================================================
# enums
# ==========================================================================================

_ENUM_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W\d_]+)?")
_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|without|none|nothing|neither|nor|cannot|dont|didnt|doesnt|cant|wont|havent|hasnt|hadnt"
    r"|isnt|wasnt|arent|werent)\b|n['’]t\b",
    re.IGNORECASE,
)


def _enum_phrases(attr: Attribute) -> list[tuple[str, str]]:
    """(value id, phrase) for every value and alias: 'store_credit' -> 'store credit'."""
    phrases = []
    for value in attr.values or []:
        for phrase in [value.replace("_", " "), *attr.aliases.get(value, [])]:
            words = _ENUM_WORD_RE.findall(phrase.lower())
            if words:
                phrases.append((value, " ".join(words)))
    return phrases


def _phrase_score(window: str, phrase: str) -> float:
    if window == phrase:
        return 100.0
    if len(phrase) < ENUM_FUZZY_MIN_LEN:
        return 0.0
    return fuzz.ratio(window, phrase)


def _phrase_windows(lowered: list[str], phrase_words: list[str]) -> Iterable[tuple[int, int, float]]:
    """(first, end, score) of word windows matching the phrase: same length with a small typo, or
    one extra word inside a multi-word phrase whose words are otherwise exact
    ('taking far too long' for 'taking too long')."""
    size, phrase = len(phrase_words), " ".join(phrase_words)
    for i in range(len(lowered) - size + 1):
        score = _phrase_score(" ".join(lowered[i:i + size]), phrase)
        if score >= ENUM_THRESHOLD:
            yield i, i + size, score
        elif size >= 2 and i + size < len(lowered) and _one_word_inserted(lowered[i:i + size + 1], phrase_words):
            yield i, i + size + 1, 90.0


def _one_word_inserted(window: list[str], phrase_words: list[str]) -> bool:
    if window[0] != phrase_words[0] or window[-1] != phrase_words[-1]:
        return False
    return any(window[:k] + window[k + 1:] == phrase_words for k in range(1, len(window) - 1))


def _negated_before(text: str, start: int) -> bool:
    """A negation in the three words before ``start``, with no punctuation in between."""
    before = text[max(0, start - 30):start]
    words = list(re.finditer(r"\S+", before))[-3:]
    if not words:
        return False
    tail = before[words[0].start():]
    match = None
    for match in _NEGATION_RE.finditer(tail):
        pass
    return match is not None and not re.search(r"[,.;:!?]", tail[match.end():])


_CLAUSE_BREAK_RE = re.compile(r"[.;!?,()\n]")
_VERB_MARKERS = frozenset(["i", "you", "we", "they", "he", "she", "it", "who", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "let's", "lets", "don't", "didn't", "doesn't", "won't", "can't", "cannot"])  # before a word: it is a verb ('we march', 'you may')
_PRO_FORMS = frozenset({"one", "ones"})  # 'the large one': the word still names the thing itself
ATTRIBUTE_WORD_REACH = 2  # words between a single-word value and a word of its attribute, same clause


def _clause_neighbour(text: str, words: list[re.Match[str]], i: int, step: int) -> re.Match[str] | None:
    """The word before (step -1) or after (step 1) words[i], unless a clause break stands between."""
    k = i + step
    if not 0 <= k < len(words):
        return None
    left, right = (words[k], words[i]) if step < 0 else (words[i], words[k])
    return None if _CLAUSE_BREAK_RE.search(text, left.end(), right.start()) else words[k]


def _near_attribute_word(text: str, words: list[re.Match[str]], i: int, attribute_stems: frozenset[str]) -> bool:
    for step in (-1, 1):
        k = i
        for _ in range(ATTRIBUTE_WORD_REACH + 1):
            neighbour = _clause_neighbour(text, words, k, step)
            if neighbour is None:
                break
            if _stem(neighbour.group()) in attribute_stems:
                return True
            k += step
    return False


def _written_as_name(text: str, words: list[re.Match[str]], i: int) -> bool:
    """Capitalised where no sentence starts, and not the first word of a longer name:
    'the invoice for May', 'in March 2026' -- not 'May I ask', 'New York'."""
    word = words[i].group()
    if not word[:1].isupper() or word.isupper() and len(word) > 1:
        return False
    before = text[:words[i].start()].rstrip(" \t\"'“‘(")
    if not before or before[-1] in ".!?\n":
        return False
    after = _clause_neighbour(text, words, i, 1)
    return after is None or not after.group()[:1].isupper() or after.group().lower() in _STOPWORDS


def _reads_as_noun(word: str) -> bool:
    """A content word that does not read as a finite verb ('answer', not 'works'/'arrived')."""
    lowered = word.lower()
    if not word.isalpha() or lowered in _STOPWORDS or lowered in _PRO_FORMS:
        return False
    return not (lowered.endswith("ed") or lowered.endswith("s") and not lowered.endswith("ss"))


_OBJECT_STARTS = frozenset(["how", "what", "why", "where", "when", "who", "whom", "whether", "my", "your", "our", "their", "his", "her", "me", "him", "us", "them"])  # after a word: it is a verb taking an object ('express how', 'march them')
_CALENDAR_WORD_RE = re.compile(rf"(?i:{_WEEKDAY_ANY}|{_MONTH})")


def _ends_a_longer_name(text: str, words: list[re.Match[str]], i: int, attribute_stems: frozenset[str]) -> bool:
    """Capitalised right after another capitalised word of the same name: the surname in
    'Daniel March', 'Tom August' -- not 'Friday March 6' nor 'Statement May'."""
    before = _clause_neighbour(text, words, i, -1)
    if before is None or not words[i].group()[:1].isupper():
        return False
    word = before.group()
    return (word[:1].isupper() and word.isalpha() and word.lower() not in _STOPWORDS
            and not _CALENDAR_WORD_RE.fullmatch(word) and _stem(word) not in attribute_stems)


def _qualifies_common_noun(text: str, words: list[re.Match[str]], i: int) -> bool:
    """Whether words[i] qualifies a noun other than a name: 'the standard answer', 'a new job',
    'a standard Visa card' -- not 'a used Golf', 'a new Kia Niro' (a make or model is the thing
    the value describes)."""
    k = i
    while (after := _clause_neighbour(text, words, k, 1)) is not None and after.group()[:1].isupper() \
            and after.group().lower() not in _STOPWORDS:
        k += 1  # over the words of a name
    return after is not None and _reads_as_noun(after.group())


def _reads_as_value(text: str, words: list[re.Match[str]], i: int, attribute_stems: frozenset[str],
                    function_word: bool) -> bool:
    """Whether a single-word value or alias found at words[i] is used as the value here.

    Most single words ('may', 'march', 'new', 'standard') also have an everyday use. The end of
    a person's name is never the value ('Daniel March'). A word of the attribute next to it
    settles it ('standard delivery', 'the invoice for May'). A function word ('may', 'other')
    needs that or to be written as a name ('in May'). Any other word is the value unless its
    neighbours show the everyday use: a verb ('we march on', 'you may', 'express how'), a
    comparison ('as new'), or a qualifier of a common noun ('the standard answer'; a make or
    model is not one: 'a used Golf').
    """
    if _ends_a_longer_name(text, words, i, attribute_stems):
        return False
    if _near_attribute_word(text, words, i, attribute_stems):
        return True
    if function_word:
        return _written_as_name(text, words, i)
    before = _clause_neighbour(text, words, i, -1)
    after = _clause_neighbour(text, words, i, 1)
    if before is not None and before.group().lower().replace("’", "'") in _VERB_MARKERS | {"as"}:
        return False
    if _written_as_name(text, words, i):
        return True
    if after is not None and after.group().lower() in _OBJECT_STARTS:
        return False
    return not _qualifies_common_noun(text, words, i)


def _enum_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    words = list(_ENUM_WORD_RE.finditer(ctx.text))
    lowered = [w.group().lower() for w in words]
    text_lower, word_set = " ".join(lowered), set(lowered)
    attribute_stems = frozenset(_distinctive(_attribute_keywords([attr])[0]))
    found: list[_Candidate] = []
    for value, phrase in _enum_phrases(attr):
        if len(phrase) < 3:
            continue  # 'c': too short to mean the value, only trusted after a label
        phrase_words = phrase.split()
        if phrase not in text_lower and not set(phrase_words) <= word_set \
                and fuzz.partial_ratio(phrase, text_lower) < ENUM_THRESHOLD:
            continue  # cheap filter before scanning windows
        for i, j, score in _phrase_windows(lowered, phrase_words):
            if j - i == 1 and not _reads_as_value(ctx.text, words, i, attribute_stems, phrase in _STOPWORDS):
                continue
            start, end = words[i].start(), words[j - 1].end()
            if not _negated_before(ctx.text, start):
                found.append(_Candidate(value, start, end, "enum", round(0.85 * score / 100, 4)))
    if len({c.value for c in found}) > 1:  # the text names several values: less sure of each
        found = [_Candidate(c.value, c.start, c.end, c.extractor, round(c.confidence * 0.75, 4)) for c in found]
    return found


def _normalise_enum(attr: Attribute, raw: str) -> str | None:
    wanted = " ".join(_ENUM_WORD_RE.findall(raw.lower()))
    if not wanted:
        return None
    for value in attr.values or []:
        if raw.strip() == value or wanted == " ".join(_ENUM_WORD_RE.findall(value.lower().replace("_", " "))):
            return value
    best_value, best_score = None, 0.0
    for value, phrase in _enum_phrases(attr):
        score = _phrase_score(wanted, phrase)
        if score > best_score:
            best_value, best_score = value, score
    return best_value if best_score >= ENUM_THRESHOLD else None


# ==========================================================================================
# booleans
# ==========================================================================================

_TRUE_WORDS = frozenset({"yes", "y", "yeah", "yep", "yup", "true", "correct", "right", "sure", "definitely",
                         "affirmative", "1", "on", "ok", "okay",
                         # a whole answer in es, de, fr, pt, it, nl
                         "sí", "si", "claro", "ja", "genau", "richtig", "oui", "sim", "certo", "esatto"})
_FALSE_WORDS = frozenset({"no", "n", "nope", "nah", "false", "incorrect", "wrong", "never", "negative", "0",
                          "off", "none",
                          "nunca", "nein", "nie", "niemals", "non", "jamais", "não", "nao", "nee", "nooit"})
_CLAUSE_SPLIT = re.compile(r"[,;:]|\b(?:but|however|although|though|whereas)\b", re.IGNORECASE)


def _normalise_boolean(raw: str) -> str | None:
    value = raw.strip().strip(".!").strip().lower()
    if value in _TRUE_WORDS:
        return "true"
    if value in _FALSE_WORDS:
        return "false"
    return None


_AUXILIARY_FORMS = {
    "has": r"ha(?:ve|s|d)|got|kept|'ve", "have": r"ha(?:ve|s|d)|got|kept|'ve", "had": r"ha(?:ve|s|d)|got|kept",
    "is": r"is|was|are|were|been|'s|'re", "was": r"is|was|are|were|been|'s", "are": r"is|was|are|were|'re",
    "did": r"did|do|does", "does": r"did|do|does", "do": r"did|do|does",
    "needs": r"need(?:s|ed)?", "wants": r"want(?:s|ed)?|would like|'d like", "can": r"can|could|able",
}


def _boolean_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    """A statement mentioning the attribute's words: true unless the clause is negated.

    A name led by an auxiliary ('has_receipt', 'is_damaged') also needs that verb in the
    sentence: 'I have the receipt' is about having it, 'the receipt shows a fee' is not.
    """
    name_stems = _content_stems(attr.name)
    desc_stems = _content_stems(attr.description)
    auxiliary = _AUXILIARY_FORMS.get(attr.name.split("_")[0])
    for start, end in ctx.sentences:
        sentence = ctx.text[start:end]
        if sentence.rstrip().endswith("?") or re.search(r"\bif\b", sentence, re.IGNORECASE):
            continue  # questions and conditions state nothing
        if auxiliary and not re.search(rf"(?<![\w'])(?:{auxiliary})(?!\w)|n't", sentence, re.IGNORECASE):
            continue
        stems = {_stem(w) for w in _WORD_RE.findall(sentence)}
        if name_stems and name_stems <= stems:
            keywords, confidence = name_stems, 0.6
        elif len(desc_stems) >= 2 and len(desc_stems & stems) >= max(2, math.ceil(0.6 * len(desc_stems))):
            keywords, confidence = desc_stems, 0.5
        else:
            continue
        negated = any(
            _NEGATION_RE.search(clause) and {_stem(w) for w in _WORD_RE.findall(clause)} & keywords
            for clause in _CLAUSE_SPLIT.split(sentence)
        )
        return [_Candidate("false" if negated else "true", start, end, "boolean", confidence)]
    return []


# ==========================================================================================
# free text
# ==========================================================================================

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


# ==========================================================================================
# labels: "Order number: A-10442", "my serial number is SN-4471"
# ==========================================================================================

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
    inner = _type_candidates(attr, ctx.sub(start, phrase_end))
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


# ==========================================================================================
# dispatch, assignment and the public API
# ==========================================================================================

def _type_candidates(attr: Attribute, ctx: _Context) -> list[_Candidate]:
    finders: dict[AttributeType, Callable[[], list[_Candidate]]] = {
        AttributeType.STRING: lambda: (_pattern_candidates(attr, ctx) if attr.pattern
                                       else _plain_string_candidates(attr, ctx)),
        AttributeType.TEXT: lambda: _text_candidates(attr, ctx),
        AttributeType.EMAIL: lambda: ctx.emails,
        AttributeType.PHONE: lambda: ctx.phones,
        AttributeType.DATE: lambda: ctx.dates(_prefers_future(attr)),
        AttributeType.NUMBER: lambda: (ctx.numbers + _ordinal_candidates(attr, ctx)
                                       + _described_number_candidates(attr, ctx)),
        AttributeType.MONEY: lambda: ctx.money,
        AttributeType.ENUM: lambda: _enum_candidates(attr, ctx),
        AttributeType.BOOLEAN: lambda: _boolean_candidates(attr, ctx),
    }
    return finders[attr.type]()


_GENERIC_STEMS = frozenset(_stem(w) for w in ("number", "no", "id", "code", "date", "amount", "address", "value",
                                              "type", "name", "reference", "ref"))


def _distinctive(keywords: dict[str, float]) -> dict[str, float]:
    """Keywords without 'number', 'id'...: 'account number 456123' says nothing of an order number."""
    return {stem: weight for stem, weight in keywords.items() if stem not in _GENERIC_STEMS}


def _scored(attr: Attribute, keywords: dict[str, float], ctx: _Context) -> list[tuple[int, float, _Candidate]]:
    """(tier, score, candidate): labels are tier 1 and always beat type-specific finds."""
    scored = [(1, LABEL_CONFIDENCE, c) for c in _label_candidates(attr, ctx)]
    labelled = {(c.start, c.end) for _, _, c in scored}
    for cand in _type_candidates(attr, ctx):
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


def normalise_value(attribute: Attribute, raw: str, *, now: datetime | None = None, region: str = "US") -> str | None:
    """Validate and normalise a value given for this attribute (an expected value in an eval file,
    or a value a language model proposed). None when the value is not valid for the type/pattern."""
    if raw is None:
        return None
    raw = str(raw)
    if not raw.strip():
        return None
    match attribute.type:
        case AttributeType.STRING:
            if attribute.pattern:
                return _normalise_pattern_string(attribute.pattern, raw)
            value = re.sub(r"\s+", " ", raw).strip().strip("\"'“”‘’").strip()
            return value or None
        case AttributeType.TEXT:
            return _clean_text(raw) or None
        case AttributeType.EMAIL:
            return _normalise_email(raw)
        case AttributeType.PHONE:
            return _parse_phone(raw, (region or "US").upper())
        case AttributeType.DATE:
            return _normalise_date(raw, now, region, _prefers_future(attribute))
        case AttributeType.NUMBER:
            return _normalise_number(raw)
        case AttributeType.MONEY:
            return _normalise_money(raw)
        case AttributeType.ENUM:
            return _normalise_enum(attribute, raw)
        case AttributeType.BOOLEAN:
            return _normalise_boolean(raw)
    return None


def _normalise_date(raw: str, now: datetime | None, region: str, future: bool) -> str | None:
    value = raw.strip()
    if len(value) > 60:
        return None
    iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?", value)
    if iso:
        parsed = _date_or_none(int(iso[1]), int(iso[2]), int(iso[3]))
        return parsed.isoformat() if parsed else None
    value = re.sub(r"^(?i:on)\s+|[.,;!]+$", "", value)
    day_month = re.fullmatch(r"\d{1,2}/\d{1,2}", value)  # alone, it is a date (in text, maybe a fraction)
    if not day_month and not any(regex.fullmatch(value) for _, regex in _DATE_RES):
        return None  # only what the extractor would find: dateparser reads too much into junk
    result = _parse_date_phrase(value, _today(now), _date_order(region or "US"), future)
    return result.isoformat() if result else None


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

