"""Code that disposes of what a language model proposes.

The language-model brain (``brain/llm/``) runs every model answer through these checks before any
of it reaches the graph; the graph's own guards (``nodes/understanding.save_fields``,
``tools/update_case_fields``, ``tools/send_email``) then apply the catalog and the policy
again. Everything here is plain, deterministic code with no network: a model cannot talk its
way past it.

- :func:`supported_value`: a value is kept only when the customer's quoted span, read by the
  offline extractors, says the same thing (so a model cannot attach an invented order number
  to a real piece of text).
- :func:`reconcile_reply`: "the customer accepts" resolves a case, so the model's reading is
  only taken when the offline reply reader does not object.
- :func:`ungrounded_details`: a drafted email holding an address, link, phone number, amount or
  reference that none of its sources holds is not sent: :class:`UngroundedDraftError`.
- :func:`handoff_problems`: a hand-off summary holding such a detail or any number the facts do
  not hold, or words to the customer, is not used: :class:`UnusableHandoffError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from pydantic import BaseModel

from agent_graph.brain.base import ComposeRequest
from agent_graph.brain.extractors.finding import extract_values
from agent_graph.brain.extractors.normalising import normalise_value, values_equal
from agent_graph.brain.replies import REPLY_LANGUAGES, classify_reply
from agent_graph.brain.types import ReplyKind
from agent_graph.catalog import Attribute, AttributeType
from agent_graph.errors import PolicyViolation
from agent_graph.handoff import HandoffFacts

# --- grounding of extracted values ----------------------------------------------------------


def flat(text: str) -> str:
    """Whitespace- and case-insensitive form (the same comparison ``save_fields`` uses)."""
    return " ".join(text.split()).lower()


def span_in_texts(span: str, texts: Iterable[str]) -> bool:
    """Whether a quoted span is really in one of the customer's texts."""
    wanted = flat(span)
    return bool(wanted) and any(wanted in flat(text) for text in texts)


def supported_value(attribute: Attribute, value: str, span: str, *, now: datetime, region: str) -> str | None:
    """The normalised value when the span supports it, else None.

    Free text takes the customer's own words (the span), never the model's paraphrase. A typed
    value must be what the span itself reads as (``normalise_value`` of the span, or what the
    offline extractors find inside it), or appear literally in it. A value valid for its type
    but unrelated to its span is exactly what a model invents, so it is dropped.
    """
    if attribute.type is AttributeType.TEXT:
        return normalise_value(attribute, span, now=now, region=region)
    normalised = normalise_value(attribute, value, now=now, region=region)
    if normalised is None:
        return None
    from_span = normalise_value(attribute, span, now=now, region=region)
    if from_span is not None and values_equal(attribute, normalised, from_span):
        return normalised
    found = extract_values(span, [attribute], now=now, region=region)
    if any(values_equal(attribute, normalised, candidate.value) for candidate in found):
        return normalised
    if attribute.type in (AttributeType.STRING, AttributeType.EMAIL, AttributeType.PHONE) and flat(value) in flat(span):
        return normalised
    return None


# --- the customer's answer to a proposed resolution -----------------------------------------

_ENGLISH_WORDS = frozenset(
    ["the", "and", "to", "is", "it", "my", "i", "you", "for", "of", "a", "this", "that", "please", "thanks", "thank", "with", "on", "have", "be", "not", "can", "will", "was", "me", "your", "we", "our", "are", "at", "so", "but", "if", "just", "all", "what", "when", "do", "did", "no", "yes", "ok", "okay"]
)
_WORD = re.compile(r"[^\W\d_]+")


def looks_english(text: str) -> bool:
    """Whether the offline reply reader (English lexicons) can be trusted to read this text."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return True
    common = sum(1 for w in words if w in _ENGLISH_WORDS)
    return common >= 2 and common / len(words) >= 0.08 or (len(words) <= 4 and common >= 1)


def reconcile_reply(model_kind: ReplyKind, text: str, language: str | None = None) -> ReplyKind:
    """Combine the model's reading of a reply with the offline reader's, the safe way round.

    Needs help from either side wins (a person looks at it). "Accepts" resolves the case, so it
    needs the offline reader to agree; only on text its lexicons cannot read (a language other than
    ``language`` when that is one of REPLY_LANGUAGES, else other than English) is the model's
    "accepts" taken alone.
    """
    offline = classify_reply(text, language)
    if ReplyKind.NEEDS_HELP in (model_kind, offline):
        return ReplyKind.NEEDS_HELP
    readable = looks_english(text) if language in (None, "en") else language in REPLY_LANGUAGES
    if model_kind is ReplyKind.ACCEPTS and (offline is ReplyKind.ACCEPTS or not readable):
        return ReplyKind.ACCEPTS
    return ReplyKind.OTHER


# --- grounding of drafted emails --------------------------------------------------------------


class DetailKind(StrEnum):
    EMAIL = "email address"
    URL = "link"
    PHONE = "phone number"
    AMOUNT = "amount"
    REFERENCE = "reference"
    MARKUP = "template markup"


class Detail(BaseModel):
    """A checkable detail found in a drafted email."""

    kind: DetailKind
    text: str


_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"'\[\]]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"(?<![@\w.-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|info|biz|app|dev|xyz|ly|me|ru|cn|us|uk|de|fr|es|it|nl|eu|"
    r"example|test|invalid|online|site|shop|top|link|click)(?:/[^\s<>()\"']*)?(?![\w.-]*@)\b",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d\s().-]{5,}\d(?![\w-])")
_AMOUNT = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|CHF|CAD|AUD|JPY|dollars?|euros?|pounds?)\b)",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+\b"
                        r"|\b[A-Z]{2,}\d{3,}\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_MARKUP = re.compile(r"\{\{|\}\}|\{%|%\}")
_TRAILING = ".,;:!?)]}'\""


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(_NUMBER.search(text).group(0).replace(",", ""))  # type: ignore[union-attr]
    except (AttributeError, InvalidOperation):
        return None


def _url_key(url: str) -> str:
    key = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.strip().rstrip(_TRAILING).lower())
    return key.rstrip("/")


def find_details(text: str) -> list[Detail]:
    """Addresses, links, phone numbers, amounts and references in a text, each once."""
    found: list[Detail] = []
    rest = text
    for kind, pattern in ((DetailKind.MARKUP, _MARKUP), (DetailKind.EMAIL, _EMAIL), (DetailKind.URL, _URL),
                          (DetailKind.URL, _BARE_DOMAIN), (DetailKind.AMOUNT, _AMOUNT)):
        for match in pattern.finditer(rest):
            found.append(Detail(kind=kind, text=match.group(0).rstrip(_TRAILING) if kind is not DetailKind.MARKUP
                                else match.group(0)))
        rest = pattern.sub(" ", rest)
    rest = _ISO_DATE.sub(" ", rest)
    for match in _REFERENCE.finditer(rest):
        found.append(Detail(kind=DetailKind.REFERENCE, text=match.group(0)))
    rest = _REFERENCE.sub(" ", rest)
    for match in _PHONE.finditer(rest):
        if len(_digits(match.group(0))) >= 7:
            found.append(Detail(kind=DetailKind.PHONE, text=match.group(0).strip()))
    unique: dict[tuple[DetailKind, str], Detail] = {}
    for detail in found:
        unique.setdefault((detail.kind, detail.text.lower()), detail)
    return list(unique.values())


class _Sources:
    """What a drafted email may repeat: the case fields, the knowledge, the customer's words."""

    def __init__(self, texts: Iterable[str]):
        joined = "\n".join(t for t in texts if t)
        self.flat = flat(joined)
        self.urls = [_url_key(m.group(0)) for p in (_URL, _BARE_DOMAIN) for m in p.finditer(joined)]
        self.phones = [d for m in _PHONE.finditer(joined) if len(d := _digits(m.group(0))) >= 7]
        self.numbers = {n for m in _NUMBER.finditer(joined) if (n := _number(m.group(0))) is not None}

    def holds(self, detail: Detail) -> bool:
        match detail.kind:
            case DetailKind.MARKUP:
                return False
            case DetailKind.URL:
                key = _url_key(detail.text)
                return any(key == u or key in u for u in self.urls) or key in self.flat
            case DetailKind.PHONE:
                digits = _digits(detail.text)
                return any(digits[-7:] == p[-7:] and (digits in p or p in digits) for p in self.phones)
            case DetailKind.AMOUNT:
                return _number(detail.text) in self.numbers
            case _:
                return flat(detail.text) in self.flat


def ungrounded_details(draft: str, sources: Iterable[str]) -> list[Detail]:
    """The details of a draft that none of the sources holds (template markup always counts)."""
    known = _Sources(sources)
    return [d for d in find_details(draft) if not known.holds(d)]


class UngroundedDraftError(PolicyViolation):
    """A drafted email holds details found in none of its sources. Nothing is sent.

    Raised from the brain's ``compose``: the email node then routes the case to a representative
    with this message as the reason, so a person writes or approves the email.
    """

    def __init__(self, details: list[Detail], draft: str):
        self.details = details
        self.draft = draft
        listed = "; ".join(f"{d.kind.value} {d.text!r}" for d in details)
        super().__init__(f"the drafted email was held for review: it holds {listed}, found in neither the case "
                         f"fields, the knowledge nor the customer's email; a representative must write or approve it")


def compose_sources(request: ComposeRequest) -> list[str]:
    """What a drafted email may repeat: case fields, knowledge, the organisation, the intent and
    the missing details' descriptions, and the customer's own emails when the request carries them."""
    intent = request.intent
    sources = [*request.fields.values(), request.knowledge, request.organisation, request.customer_first_name or ""]
    if intent is not None:
        sources += [intent.name, intent.description]
        sources += [f"{a.label} {a.description}" for a in intent.attributes if a.name in request.missing]
    sources += list(getattr(request, "customer_texts", None) or [])
    return sources


# --- hand-off summaries -----------------------------------------------------------------------

_TO_THE_CUSTOMER = re.compile(
    r"^\s*(?:dear|hi|hello)\b|\b(?:kind|best|warm)\s+regards\b|\bsincerely\b|\breply to this (?:e-?mail|message)\b"
    r"|\bthank you for (?:contacting|your (?:e-?mail|message|patience))\b|<<<|>>>",
    re.IGNORECASE | re.MULTILINE,
)


def _handoff_sources(facts: HandoffFacts) -> list[str]:
    """What a hand-off summary may repeat: the facts, every one of them."""
    return [facts.case_number or "", facts.wants, *(f"{k}: {v}" for k, v in facts.known.items()), *facts.missing,
            *facts.tried, facts.why]


def handoff_problems(summary: str, facts: HandoffFacts) -> list[str]:
    """Why a model's hand-off summary cannot be shown: details (addresses, links, phone numbers,
    amounts, references) or numbers (case and order numbers, counts, dates) that the facts do not
    hold, and words addressed to the customer. Empty when it can."""
    sources = _handoff_sources(facts)
    problems = [f"{d.kind.value} {d.text!r} not in the facts" for d in ungrounded_details(summary, sources)]
    known = _Sources(sources).numbers
    rest = summary
    for pattern in (_EMAIL, _URL, _BARE_DOMAIN, _AMOUNT, _REFERENCE):  # judged whole above
        rest = pattern.sub(" ", rest)
    invented = {m.group(0) for m in _NUMBER.finditer(rest) if _number(m.group(0)) not in known}
    problems += [f"number {n!r} not in the facts" for n in sorted(invented)]
    problems += [f"words to the customer: {m.group(0).strip()!r}" for m in _TO_THE_CUSTOMER.finditer(summary)]
    return problems


class UnusableHandoffError(PolicyViolation):
    """A model's hand-off summary that code will not show a representative; the offline words are used."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"the model's hand-off summary was not used: {'; '.join(problems)}")
