"""The language a customer writes in, read from their new text (docs/behaviour.md, issue 10).

The caller passes the customer's *new* text — ``InboundEmail.new_text``, which intake has already
cut from quoted history and signatures (``intake.separate_new_text``) — never the whole body.

Detection is py3langid (a naive Bayes classifier over byte n-grams whose model ships inside the
package: nothing is downloaded, nothing leaves the machine), restricted to
:data:`DETECTED_LANGUAGES`. It was chosen over lingua-language-detector by measurement on
``evals/languages/lines.jsonl``; the figures and the comparison are in the README
(``case-agent eval-languages``).

What is not language is taken out first: web and email addresses, every token holding a digit
(order numbers, phone numbers, dates, amounts, model codes) and a quoted passage (an error
message or a tracking status in another language, "'Payment declined'") when enough words are
left without it. The answer is ``None`` — "cannot tell: keep the case's language" — when what
remains has fewer than :data:`MIN_WORDS` words or the classifier's probability is below
:data:`MIN_PROBABILITY`. Both were chosen on the ``dev`` half of the lines (the strictest
probability that still reads every longer dev line right); the ``held`` half reports them.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

log = logging.getLogger(__name__)

DETECTED_LANGUAGES: tuple[str, ...] = (
    "en", "es", "de", "fr", "pt", "it", "nl", "pl", "sv", "da", "no", "fi", "cs", "sk", "hu", "ro", "ca", "el",
    "ru", "uk", "tr", "ar", "zh", "ja", "ko", "hr", "sl", "bg", "lt", "lv", "et",
)
"""ISO 639-1 codes the classifier chooses among: the languages of the EU and its neighbours most
written to a European support mailbox, plus the largest other scripts. A wider set (50 languages)
read fewer of the test lines right (Galician taken for Portuguese); a language outside the set comes
out as ``None`` or, rarely, as its nearest neighbour in the set."""

MIN_WORDS = 2
"""Fewer words than this (after numbers, codes and addresses are taken out) is too short to say:
"ok", "prima", "perfect" and "no" are words of several languages."""

MIN_PROBABILITY = 0.8
"""The classifier's probability (normalised over :data:`DETECTED_LANGUAGES`) below which the
language is unknown."""

RECOGNISABLE_WORDS = 8
"""A text with this many words (after numbers, codes and addresses are taken out) tells its language
when it is one the agent detects: a case whose language is still unknown after such an email is in a
language not recognised, and goes to a person (docs/behaviour.md step 7). No email of the suites
(331 of 8 words or more) is left unknown."""

MAX_CHARS = 2000
"""Only the first characters of a long text are read: enough to tell its language, and the time
per email stays flat."""

_ADDRESS_RE = re.compile(r"\S+@\S+|\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_QUOTED_RE = re.compile(r"""(?<!\w)['"‘“«„][^'"’”»“\n]{2,120}?['"’”»“](?!\w)""")
_DIGIT_TOKEN_RE = re.compile(r"\S*\d\S*")


def detect_language(new_text: str) -> str | None:
    """The ISO 639-1 code of the language ``new_text`` is written in, or None when it is too short
    or the classifier is not sure (the caller then keeps the case's language)."""
    text = language_text(new_text[:MAX_CHARS])
    if len(text.split()) < MIN_WORDS:
        return None
    code, probability = _identifier().classify(text)
    log.debug("language %s (p=%.2f) for %d characters", code, probability, len(text))
    return str(code) if probability >= MIN_PROBABILITY else None


def long_enough_to_tell(new_text: str) -> bool:
    """Whether ``new_text`` has :data:`RECOGNISABLE_WORDS` words that carry a language."""
    return len(language_text(new_text[:MAX_CHARS]).split()) >= RECOGNISABLE_WORDS


def language_text(text: str) -> str:
    """The words of ``text`` that carry its language: no addresses, no token with a digit or
    without a letter, and no quoted passage when enough words are left without it."""
    text = _ADDRESS_RE.sub(" ", text)
    unquoted = _words(_QUOTED_RE.sub(" ", text))
    return " ".join(unquoted if len(unquoted) >= MIN_WORDS else _words(text))


def _words(text: str) -> list[str]:
    """The tokens of ``text`` that hold a letter and no digit."""
    return [word for word in _DIGIT_TOKEN_RE.sub(" ", text).split() if any(ch.isalpha() for ch in word)]


def load_language_model() -> None:
    """Load the language classifier's model now (a long-running process's warm-up), not on the
    first email."""
    _identifier()


@cache
def _identifier() -> LanguageIdentifier:
    """The classifier with its model, loaded once per process from the package's own data file."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(DETECTED_LANGUAGES))
    return identifier
