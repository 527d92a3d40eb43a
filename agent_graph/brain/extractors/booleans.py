"""Yes/no values: an answer word, or the attribute's own words said or negated in a clause."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import _WORD_RE, _Candidate, _content_stems, _stem
from agent_graph.brain.extractors.enums import _NEGATION_RE
from agent_graph.catalog import Attribute

if TYPE_CHECKING:
    from agent_graph.brain.extractors.context import _Context


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
