"""Enum values: the attribute's values and aliases, matched fuzzily (``rapidfuzz``) unless negated;
a single-word value that is also an everyday word ('may', 'new') is read in its context."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from agent_graph.brain.extractors.base import (
    ENUM_FUZZY_MIN_LEN,
    ENUM_THRESHOLD,
    _STOPWORDS,
    _Candidate,
    _attribute_keywords,
    _distinctive,
    _stem,
)
from agent_graph.brain.extractors.dates import _CALENDAR_WORD_RE
from agent_graph.catalog import Attribute

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


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
