"""Intent classification for customer emails, offline and deterministic (behaviour.md §5).

A catalog has few examples per intent (2-6) and a handful of intents, while customer emails
are longer than examples and often about something no intent covers. So the classifier is a
linear model *plus* a calibrated confidence:

* **Features**: TF-IDF word 1-2 grams and character (``char_wb``) 2-5 grams, sublinear tf, on
  lightly normalised text (lower case, digit runs as ``0``, URLs/addresses replaced, and one
  ``zz<concept>`` token per concept of a small generic customer-service thesaurus, so that
  "suspend" meets "pause" and "haven't got it" meets "hasn't arrived"). The two blocks are
  L2-normalised and concatenated at unit length, so a dot product is a cosine similarity. With
  ``IntentSettings(embedding=w)`` > 0, a pretrained sentence embedding that ships in a package
  (:mod:`agent_graph.brain.embedding`) is a third block at weight ``w`` against the n-grams, for
  wordings that share meaning but no n-gram with the examples (:class:`_Encoder`). Catalogs use
  ``w = 0``; ``case-agent eval-intents`` chooses ``w`` on validation data.
* **Model**: a linear SVM (one-vs-rest ``LinearSVC``; ``IntentSettings(model="lr")`` gives
  multinomial logistic regression) over the intents *plus* a ``__none__`` class trained on a small
  built-in background of content-free email sentences (greetings, sign-offs, "I have a
  question", pleasantries, spam) and any caller-supplied negatives. Background sentences that
  resemble a training text of the catalog are dropped, so the background never competes with an
  intent the catalog covers. Classes are balanced by sample weight (``IntentSettings.class_weights``
  can give one more).
* **Emails**: greeting lines, quoted lines and everything from a sign-off line on are removed. A
  text of up to :data:`SEGMENT_MIN_WORDS` words is scored whole. A longer one is also scored per
  sentence (of at least :data:`MIN_SENTENCE_WORDS` words), per pair of adjacent sentences, per
  sentence's main clause before a reason ("…, because …"), and as the whole without its filler
  sentences (those the model puts in ``__none__``); each intent
  keeps its best segment, a part of the email counting ``part_penalty`` (0.1) less than the
  whole, against the optimism of taking a maximum over many parts.
* **Confidence**: for a segment and an intent, ``sigmoid(w . features)`` over four signals: the
  model's score for the intent, its margin over the best other class (``__none__`` included), the
  best cosine similarity to the intent's own training texts (at most
  ``IntentSettings.similarity_examples`` of them, those that best cover the rest: a dataset's
  thousands of examples would make every prediction slow), and that similarity's margin over
  the best other class. The weights (:data:`CALIBRATION`, per model kind and embedding weight)
  were fitted once, offline, by logistic
  regression on few-shot episodes drawn from the public CLINC150 train (examples) and validation
  (queries) splits: 5-15 random intents with 2-6 examples and the intent name each; queries of
  those intents are positives when ranked right, queries of other intents and out-of-scope
  queries are negatives (``python -m agent_graph.intent_eval.calibration``). So the
  confidence estimates "the top intent is right and the text is about it", a threshold of 0.5
  means "more likely right than not", and nothing in it depends on a particular catalog.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, pairwise, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from agent_graph.brain import embedding
from agent_graph.brain.types import IntentGuess
from agent_graph.catalog import Catalog

NONE_CLASS = "__none__"
ATTRIBUTE_WEIGHT = 0.3  # sample weight of the "name + attribute labels" training text of an intent
RANKING_SIZE = 3
MIN_SENTENCE_WORDS = 5  # shorter sentences are only scored together with a neighbour
SEGMENT_MIN_WORDS = 15  # texts up to this many words are scored whole only
DENSE_SIMILARITY_LIMIT = 1 << 22  # cells (16 MB of float32) up to which the similarity matrix is dense

# Weights of the confidence per model kind and embedding weight: bias, score, score margin, own
# similarity, similarity margin. Fitted offline on CLINC150 few-shot episodes by ``python -m
# agent_graph.intent_eval.calibration PATH --model KIND --c C --embedding WEIGHT`` (see
# module doc; C 2 for "svm", 30 for "lr" with the embedding).
CALIBRATION: dict[tuple[str, float], tuple[float, ...]] = {
    ("svm", 0.0): (1.065, 6.83, -0.135, 1.079, -1.634),
    ("lr", 0.0): (1.385, 1.943, 0.202, 2.423, -0.164),
    ("svm", 1.0): (0.647, 6.481, -0.153, 1.797, -0.47),
    ("svm", 2.0): (-0.098, 5.477, -0.023, 2.447, 0.121),
    ("lr", 1.0): (1.717, 2.279, 0.048, 2.183, 1.408),
    ("lr", 2.0): (0.862, 2.101, -0.036, 3.453, 1.289),
}


class UncalibratedSettings(ValueError):
    """Intent settings for which no confidence calibration is known."""


@dataclass(frozen=True)
class IntentSettings:
    """Knobs of the classifier; the defaults are what catalogs use."""

    model: str = "svm"  # "svm" (LinearSVC, one-vs-rest) or "lr" (multinomial logistic regression)
    c: float = 2.0  # "lr" works best with a larger C (30)
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    segment_emails: bool = True
    max_sentences: int = 12
    segment_min_words: int = SEGMENT_MIN_WORDS
    part_penalty: float = 0.1
    background: bool = True
    background_overlap: float = 0.6
    concepts: bool = True
    embedding: float = 0.0  # weight of the sentence-embedding block against the n-gram block; 0: n-grams only
    similarity_examples: int = 24  # per intent, at most this many examples are kept for the similarity signals
    # (intent id, factor) pairs: that intent's class carries ``factor`` times the total training weight of
    # every other class (e.g. an "anything else" intent, which covers far more ground than one request)
    class_weights: tuple[tuple[str, float], ...] = ()
    calibration: tuple[float, ...] | None = None  # None: CALIBRATION[(model, embedding)]
    max_iter: int = 300

    def confidence_weights(self) -> tuple[float, ...]:
        """The weights of the confidence: ``calibration``, else the calibrated ones of the model
        kind and embedding weight."""
        if self.calibration is not None:
            return self.calibration
        try:
            return CALIBRATION[(self.model, self.embedding)]
        except KeyError:
            known = ", ".join(f"{m} with embedding {w:g}" for m, w in CALIBRATION)
            raise UncalibratedSettings(
                f"no confidence calibration for model {self.model!r} with embedding weight {self.embedding:g} "
                f"(calibrated: {known}); run `python -m agent_graph.intent_eval.calibration PATH/clinc150 "
                f"--model {self.model} --embedding {self.embedding:g}` and pass IntentSettings(calibration=...)") from None


# --- text handling ---------------------------------------------------------------------------

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


# A small, generic thesaurus of customer-service wording: each concept adds one token to the
# text, so "suspend my membership" and "freeze my membership", or "haven't got it" and "hasn't
# arrived", share a feature even when a catalog gives only one wording. Nothing here is about a
# particular business.
CONCEPTS: tuple[tuple[str, str], ...] = (
    ("cancel", r"cancel\w*|terminat\w*|discontinu\w*|(?:end|quit|finish) (?:my|our|the|this)|opt(?:ing)? out|unsubscrib\w*"
               r"|no (?:more|longer) (?:a )?(?:member|customer)"
               r"|(?:go\w*|went|switch\w*|mov\w*|leav\w*|chang\w*) (?:to |for )?(?:an|the )?other (?:company|provider|network|operator|supplier)"
               r"|(?:not|\w+n't|never) (?:come|coming) (?:back|again)|(?:not|\w+n't) want to (?:be )?pay(?:ing)?(?! twice)"
               r"|(?:not|\w+n't|never) (?:need|want|use|using|study|studying|come|coming) (?:(?!to )\w+ ){0,3}?(?:more|any ?more)"),
    ("pause", r"pause\w*|freez\w*|frozen|suspen\w*|on hold|put \w+ on hold|take a break|temporarily"
              r"|(?:for|during) (?:a|one|two|three|four|0|a few|some|several) (?:weeks?|months?) only"
              r"|(?:only|just) for (?:a|one|two|three|four|0|a few|some|several) (?:weeks?|months?)"),
    ("receive", r"arriv\w*|receiv\w*|deliver\w*|show(?:n|ed)? up|turn(?:ed)? up|(?:not|\w+n't|never) (?:got|gotten|come|seen)(?! back| more| any ?more)"),
    ("ship", r"ship\w*|dispatch\w*|parcel\w*|package\w*|courier\w*|postage|posted"),
    ("track", r"track\w*|where is|whereabouts|status of"),
    ("late", r"late|delay\w*|still waiting|waiting for|overdue|taking (?:so|too) long|not yet"),
    ("refund", r"refund\w*|money back|reimburs\w*|pay (?:me )?back|repay\w*|compensat\w*|credit back"
               r"|(?:give|send|want|get|need)\w* (?:me )?back (?:my|the|our) money|(?:my|the|our) money return\w*"
               r"|return\w* (?:me )?(?:my|the|our) money"),
    ("return", r"return\w*|send (?:it |them |this |\w+ )?back|exchang\w*"),
    ("charge", r"charg\w*|bill(?:ed|ing)?|fees?|invoic\w*|debit\w*|paid|payments?|statement|"
               r"(?:took|taken|take|taking) (?:\w+ )?(?:money|\S+ (?:euros?|dollars?|pounds?))|deducted"
               r"|payed|(?:have|has|had|was|were|already) pay|pay already"
               r"|(?:go|goes|going|gone|went|come|comes|came) out (?:of|from) (?:my|our|the) (?:bank|account|card)"),
    ("payday", r"pay ?day|(?:day|date) (?:of|for) (?:the )?pay\w*|(?:debit|payment|paying) (?:day|date)"
               r"|(?:day|date) (?:when|that) (?:you )?(?:take|collect|charge)\w*|(?:(?<!the )other|another|different) day"
               r"|0(?:st|nd|rd|th)? (?:of|in) (?:the |every |each |a )?month"),
    ("twice", r"twice|double\w*|duplicat\w*|two times?|charged again"),
    ("wrong", r"wrong|incorrect\w*|mistak\w*|error\w*|by accident|accidental\w*"),
    ("broken", r"broken|damag\w*|defect\w*|faulty|crack\w*|smash\w*|scratch\w*|not working|(?:doesn't|does not|won't|will not) work|stopped working"),
    ("login", r"log ?in\w*|log into|logging|sign(?:ing)? ?in(?:to)?|signin|access (?:my|the) account|locked out|credentials"),
    ("password", r"password\w*|passcode|pin code|credentials"),
    ("forgot", r"forg[oe]t\w*|reset\w*|can't remember|cannot remember|don't remember"),
    ("address", r"address\w*|moved|moving|relocat\w*|new home|move house|move out"
                r"|leav\w* (?:the|my|our) (?:flat|house|home|apartment|property)"
                r"|(?:not|no longer|never) (?:live|living|stay|staying) (?:in|at|there)"
                r"|(?:go|going|goes|gone|went|return\w*|mov\w*) (?:back )?(?:to|home to) (?:my|our|his|her|their) (?:home )?country"
                r"|(?:go|goes|going|went|move|moving|come) (?:to )?live (?:in|at|to|with)"
                r"|chang\w* (?:the |my |our )?(?:flat|house|apartment|home)|(?:new|other|another) (?:flat|house|apartment)"),
    ("change", r"chang\w*|updat\w*|modif\w*|amend\w*|edit\w*|correct (?:my|the)"),
    ("delete", r"delet\w*|remov\w*|eras\w*|clos(?:e|ed|ing) (?:my|our|the|this)|deactivat\w*|gdpr|personal data|forget me"),
    ("book", r"book(?:ing|ed)?|reserv\w*|sign (?:me )?up|register\w*|enrol\w*|appointment\w*|schedul\w*|a spot|a place|a seat"),
    ("price", r"pric\w*|cost\w*|how much|rates?|tariff\w*|quote"),
    ("complaint", r"complain\w*|disappoint\w*|unhappy|unacceptable|terrible|awful|dissatisf\w*|frustrat\w*|not happy|poor service"),
    ("purchase", r"orders?|ordered|purchas\w*|bought|buy(?:ing)?"),
    ("subscription", r"subscri\w*|membership\w*|contract\w*"),
    ("mind", r"changed my mind|don't (?:want|need) (?:it|this|them)|no longer (?:want|need)|by mistake"),
)
# Every concept a text mentions, found in one pass over the text rather than a search per concept.
# _CONCEPTS_FROM[k] matches, consuming nothing, where one of the concepts k, k+1, ... matches
# (the test that a search for ``(?<!\w)(?:pattern)(?!\w)`` makes at each position); the group
# that matched is the first such concept. _concepts_in scans with [0] and, at each hit, tries
# [k + 1] after a hit of concept k, which lists every concept matching there.
_CONCEPTS_FROM = [
    re.compile(r"(?<!\w)(?=" + "|".join(rf"(?P<{name}>(?:{pattern})(?!\w))" for name, pattern in CONCEPTS[k:]) + ")")
    for k in range(len(CONCEPTS))
]
_CONCEPT_INDEX = {name: k for k, (name, _) in enumerate(CONCEPTS)}


def _concepts_in(text: str) -> list[str]:
    """The names of the thesaurus concepts ``text`` mentions, in :data:`CONCEPTS` order."""
    found: set[int] = set()
    for hit in _CONCEPTS_FROM[0].finditer(text):
        match: re.Match[str] | None = hit
        while match is not None:
            k = _CONCEPT_INDEX[str(match.lastgroup)]
            found.add(k)
            match = _CONCEPTS_FROM[k + 1].match(text, hit.start()) if k + 1 < len(CONCEPTS) else None
    return [CONCEPTS[k][0] for k in sorted(found)]


def normalise(text: str, *, concepts: bool = False) -> str:
    """Lower case, URLs and email addresses as placeholder words, digit runs as ``0``; with
    ``concepts``, a ``zz<concept>`` token appended for every thesaurus concept the text mentions."""
    text = _URL.sub(" urlx ", text)
    text = _EMAIL.sub(" emailx ", text)
    text = _DIGITS.sub("0", text.lower().replace("\u2019", "'"))
    text = _SPACE.sub(" ", text).strip()
    if concepts:
        found = [f"zz{name}" for name in _concepts_in(text)]
        if found:
            text = f"{text} {' '.join(found)}"
    return text


_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day)|to\s+whom\s+it\s+may\s+concern)"
    r"\b[^.!?\n]{0,40}?[,!:.]?\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?i:(?:many\s+|much\s+)?thanks?(?:\s+you)?(?:\s+(?:so\s+much|very\s+much|again|in\s+advance|a\s+lot))?|thx|cheers|"
    r"(?:best|kind|warm|warmest)(?:\s+regards|\s+wishes)?|regards|sincerely|yours(?:\s+(?:truly|sincerely|faithfully))?|"
    r"all\s+the\s+best|take\s+care|br|--+|__+)\s*[,.!]*(?:\s*[A-Z][\w.'-]*){0,3}\s*[,.!]*\s*$"
)
_SENT_FROM = re.compile(r"^\s*sent\s+from\s+my\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")
_BECAUSE = re.compile(r",?\s+(?:because|becouse)\b", re.IGNORECASE)


_LEADING_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day))\b[^,.!?:\n]{0,30}[,!.:]\s+",
    re.IGNORECASE,
)


def clean_email(text: str) -> str:
    """The body without quoted lines, greetings, and everything from a sign-off line on."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        if _SIGN_OFF.match(stripped) or _SENT_FROM.match(stripped):
            if kept:  # a sign-off ends the message; a leading "Thanks," is only dropped
                break
            continue
        if _GREETING.match(stripped):
            continue
        stripped = _LEADING_GREETING.sub("", stripped, count=1) or stripped
        kept.append(stripped)
    return "\n".join(kept) if kept else text.strip()


def _sentences(cleaned: str) -> list[str]:
    out = []
    for sentence in _SENTENCE_END.split(cleaned):
        sentence = sentence.strip()
        if sentence and not (_SIGN_OFF.match(sentence) or _GREETING.match(sentence)):
            out.append(sentence)
    return out


def split_email(text: str, max_sentences: int = 12) -> tuple[str, list[str]]:
    """The cleaned whole text of an email and its sentences (greetings and sign-offs removed)."""
    sentences = _sentences(clean_email(text))[:max_sentences]
    whole = " ".join(" ".join(sentences).split()) or " ".join(text.split())
    return whole, sentences


def _main_clauses(sentences: Sequence[str]) -> list[str]:
    """Of each sentence that gives a reason ("I want to cancel my booking because my visa …"), the
    part before it, when that has at least :data:`MIN_SENTENCE_WORDS` words: the request without a
    reason that may be longer than it and about something else."""
    clauses = (_BECAUSE.split(sentence, maxsplit=1)[0].strip() for sentence in sentences)
    return [c for c, s in zip(clauses, sentences, strict=True) if c != s and len(_WORD.findall(c)) >= MIN_SENTENCE_WORDS]


def _parts_across_sentences(sentences: Sequence[str]) -> list[str]:
    """The parts of a long email scored beside its sentences: each pair of adjacent sentences, then
    each sentence's main clause before a reason (:func:`_main_clauses`)."""
    return [f"{a} {b}" for a, b in pairwise(sentences)] + _main_clauses(sentences)


def segments(text: str, max_sentences: int = 12, min_words: int = SEGMENT_MIN_WORDS) -> list[str]:
    """What is scored for an email: the cleaned whole and, when that has more than ``min_words``
    words, each sentence of at least :data:`MIN_SENTENCE_WORDS` words, each pair of adjacent
    sentences and each sentence's main clause before a reason (:func:`_main_clauses`). A short text
    is one request; a long one mixes the request with context and filler.
    (:meth:`IntentClassifier.scores_many` also scores the whole without its filler sentences.)"""
    whole, sentences = split_email(text, max_sentences)
    out = [whole]
    if len(sentences) > 1 and len(_WORD.findall(whole)) > min_words:
        out.extend(s for s in sentences if len(_WORD.findall(s)) >= MIN_SENTENCE_WORDS)
        out.extend(_parts_across_sentences(sentences))
    return list(dict.fromkeys(s for s in out if s))  # each segment once, in order


# --- background: content-free email sentences -------------------------------------------------

BACKGROUND: tuple[str, ...] = (
    "Hello", "Hi there", "Hi team", "Good morning", "Good afternoon", "Dear Sir or Madam",
    "To whom it may concern", "Hello, I hope you are well", "I hope this email finds you well",
    "I hope you are having a good day", "Thanks", "Thank you", "Thanks in advance", "Thank you for your help",
    "Many thanks for your time", "Thanks for getting back to me", "Best regards", "Kind regards",
    "Regards", "Cheers", "Sincerely", "Have a nice day", "Have a great weekend", "Looking forward to your reply",
    "Looking forward to hearing from you", "Please let me know", "Please get back to me",
    "Please advise", "Let me know if you need anything else", "I have a question",
    "I have a quick question", "I have a question for you", "Can you help me?", "Could you help me please?",
    "I need some help", "I need help with something", "Can someone help me", "I would like some information",
    "I would like to ask something", "Quick question", "Just a question", "I am writing to ask",
    "I am writing to you because", "I am contacting you regarding", "I wanted to reach out",
    "Is anyone there?", "Hello? Anyone?", "Can I ask you something?", "I was wondering",
    "I was wondering if you could help", "Sorry to bother you", "Sorry for the trouble",
    "Apologies for the long email", "I am a customer", "I have been a customer for years",
    "My name is John Smith", "This is Maria", "It is me again", "As discussed", "As I said before",
    "See below", "See attached", "Please find attached", "Please see the attached file",
    "Sent from my iPhone", "Sent from my phone", "Excuse any typos", "Ok", "Okay", "Yes", "No",
    "Sure", "Great", "Fine", "Noted", "Got it", "Understood", "Test", "Testing", "test email please ignore",
    "asdf", "lorem ipsum dolor sit amet", "Congratulations, you have won a prize",
    "Claim your free gift card now", "Limited time offer, click here", "Buy cheap watches online",
    "Earn money fast working from home", "You have been selected for an exclusive reward",
    "Dear friend, I am a prince and need your help transferring funds",
    "Increase your website traffic with our SEO services", "We offer the best marketing services",
    "Unsubscribe from this newsletter", "Click the link below to verify", "Hot singles in your area",
    "Invest in crypto and double your money", "This message was sent automatically",
    "Please do not reply to this email", "Out of office", "I am out of the office until Monday",
    "The weather is lovely today", "Did you watch the game last night?", "What is the meaning of life?",
    "Tell me a joke", "How are you?", "How is it going?", "Nice to meet you", "What is your name?",
    "Happy new year", "Merry Christmas", "Happy birthday", "I love your company", "You guys are great",
    "Keep up the good work", "Just saying hi", "Just checking in", "Any update?", "Hello again",
)


# --- the classifier -----------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


class _Vectoriser:
    """TF-IDF word and character n-grams, each block L2-normalised, rows scaled to unit length.

    Fitted with scikit-learn; ``transform`` is a lean re-implementation of the same analysis and
    arithmetic (sublinear tf x idf, L2) without scikit-learn's per-call validation, which dominates
    the time of a one-sentence prediction. An email is scored whole, per sentence, per pair of
    sentences and without its filler, so each of its words is analysed several times: character
    n-grams, which scikit-learn makes word by word, are looked up once per distinct word
    (:func:`_char_ids_by_word`).
    """

    def __init__(self, settings: IntentSettings, corpus: Sequence[str]) -> None:
        self._concepts = settings.concepts
        corpus = [normalise(t, concepts=self._concepts) for t in corpus]
        word = TfidfVectorizer(analyzer="word", ngram_range=settings.word_ngrams, sublinear_tf=True,
                               token_pattern=r"(?u)\b\w+\b")
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=settings.char_ngrams, sublinear_tf=True)
        for vectoriser in (word, char):
            vectoriser.fit(corpus)
        self._preprocess = word.build_preprocessor()  # lower case; both blocks preprocess alike
        offset = len(word.vocabulary_)  # the character block's columns follow the word block's
        # per block: the feature ids of a preprocessed text's n-grams, the vocabulary, the idf
        self._blocks = [
            (_word_ids(word.build_tokenizer(), word.vocabulary_, word.ngram_range), word.vocabulary_,
             word.idf_.astype(np.float64)),
            (_char_ids(_char_ids_by_word(char.vocabulary_, char.ngram_range, offset)), char.vocabulary_,
             char.idf_.astype(np.float64)),
        ]
        self._idf = np.concatenate([idf for _, _, idf in self._blocks])
        self.n_features = len(self._idf)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """One row per text. A row's features keep scikit-learn's order (of first occurrence), so
        that sums over a row add up in the same order, to the same last bit, however texts are
        batched."""
        features: list[int] = []  # per text and block with a known n-gram, the feature ids...
        counts: list[int] = []  # ...and their counts, in order of first occurrence as scikit-learn counts
        run_sizes: list[int] = []  # how many features each such (text, block) run has
        row_runs: list[int] = []  # how many runs each text has
        indptr = [0]
        for text in texts:
            text = self._preprocess(normalise(text, concepts=self._concepts))
            runs = 0
            for ids, _, _ in self._blocks:
                count = Counter(ids(text))
                count.pop(_UNKNOWN, None)  # n-grams outside the vocabulary
                if count:
                    features.extend(count)
                    counts.extend(count.values())
                    run_sizes.append(len(count))
                    runs += 1
            row_runs.append(runs)
            indptr.append(len(features))
        idx = np.asarray(features, dtype=np.int64)
        val = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * self._idf[idx]
        val = val / np.repeat(_run_norms(val, run_sizes), run_sizes)
        run_scale = 1.0 / np.sqrt(np.repeat(row_runs, row_runs))  # rows at unit length
        val = val * np.repeat(run_scale, run_sizes)
        return sp.csr_matrix((val.astype(np.float32), idx.astype(np.int32), np.asarray(indptr)),
                             shape=(len(texts), self.n_features))


_WORD_CACHE_SIZE = 1 << 14  # distinct words whose character n-gram ids a vectoriser remembers (~12 MB)

_UNKNOWN = -1  # the feature id of an n-gram outside the vocabulary
FeatureIds = Callable[[str], Iterable[int]]


def _word_ids(tokenize: Callable[[str], list[str]], vocabulary: Mapping[str, int],
              ngram_range: tuple[int, int]) -> FeatureIds:
    """The vocabulary id (or :data:`_UNKNOWN`) of each word n-gram of a preprocessed text."""
    def ids(text: str) -> Iterable[int]:
        return map(vocabulary.get, _word_ngrams(tokenize(text), *ngram_range), repeat(_UNKNOWN))
    return ids


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> Iterator[str]:
    """The n-grams of a text's tokens as scikit-learn's word analyzer makes them: every n-gram of
    each size from ``min_n`` in turn, its tokens joined by a space."""
    return chain.from_iterable(
        map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)) for n in range(min_n, max_n + 1)
    )


def _char_ids(by_word: Callable[[str], tuple[int, ...]]) -> FeatureIds:
    """The feature ids of a preprocessed text's ``char_wb`` n-grams, in scikit-learn's order: those
    of each whitespace-separated word in turn. (scikit-learn first collapses runs of whitespace to
    one space, which changes nothing that ``str.split`` yields.)"""
    def ids(text: str) -> Iterable[int]:
        return chain.from_iterable(map(by_word, text.split()))
    return ids


def _char_ids_by_word(vocabulary: Mapping[str, int], ngram_range: tuple[int, int],
                      offset: int) -> Callable[[str], tuple[int, ...]]:
    """The feature ids (vocabulary id + ``offset``) of one word's ``char_wb`` n-grams, unknown
    n-grams left out; memoised (a bounded LRU): emails repeat words, and each email is scored in
    several overlapping segments."""
    @lru_cache(maxsize=_WORD_CACHE_SIZE)
    def by_word(word: str) -> tuple[int, ...]:
        grams = _char_wb_ngrams(word, *ngram_range)
        return tuple(offset + j for j in map(vocabulary.get, grams) if j is not None)
    return by_word


def _char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The n-grams of one whitespace-free word as scikit-learn's ``char_wb`` analyzer makes them:
    of the word padded with a space each side, every n-gram of each size from ``min_n``; a padded
    word no longer than ``n`` is one n-gram, counted once, and ends the sizes."""
    padded = f" {word} "
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        grams.extend(padded[i:i + n] for i in range(max(len(padded) - n, 0) + 1))
        if len(padded) <= n:
            break
    return grams


def _run_norms(val: np.ndarray, run_sizes: Sequence[int]) -> np.ndarray:
    """The L2 norm of each consecutive run of ``val``, as ``np.linalg.norm`` computes it (the
    square root of a dot product, so that the result is the same to the last bit)."""
    norms = np.empty(len(run_sizes))
    start = 0
    for i, size in enumerate(run_sizes):
        run = val[start:start + size]
        norms[i] = np.sqrt(run.dot(run))
        start += size
    return norms


class _Encoder:
    """A text's features: the n-gram block of :class:`_Vectoriser` and, when ``weight`` > 0, the
    bundled sentence embedding (:mod:`agent_graph.brain.embedding`), which knows that words
    never seen in the catalog's examples mean alike. The blocks are scaled to lengths
    ``1 / sqrt(1 + weight**2)`` and ``weight / sqrt(1 + weight**2)``, so a row keeps unit length and
    a dot product stays a cosine similarity. The embedding block is dense and kept apart from the
    sparse n-grams, except for fitting a model (:meth:`joined`)."""

    def __init__(self, settings: IntentSettings, corpus: Sequence[str]) -> None:
        self.ngrams = _Vectoriser(settings, corpus)
        self.weight = settings.embedding
        length = float(np.hypot(1.0, self.weight))
        self._ngram_scale, self._embedding_scale = 1.0 / length, self.weight / length

    def transform(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """The scaled n-gram rows and embedding rows (None without the embedding) of ``texts``."""
        x = self.ngrams.transform(texts)
        if not self.weight:
            return x, None
        x.data *= np.float32(self._ngram_scale)
        return x, embedding.embed(list(texts)) * np.float32(self._embedding_scale)

    @staticmethod
    def joined(x: sp.csr_matrix, e: np.ndarray | None) -> sp.csr_matrix:
        """Both blocks side by side, as one sparse matrix (what a model is fitted on)."""
        return x if e is None else sp.hstack([x, sp.csr_matrix(e)], format="csr")


class IntentClassifier:
    """A fitted classifier; use :meth:`fit` or :meth:`from_catalog`, then :meth:`predict`.

    ``intents`` lists the intent ids in the order of score arrays.
    """

    def __init__(self, *, intents: list[str], threshold: float, settings: IntentSettings, encoder: _Encoder,
                 coef: np.ndarray, intercept: np.ndarray, sim_matrix: sp.csr_matrix, sim_embedding: np.ndarray | None,
                 sim_class: np.ndarray, view_texts: Sequence[Sequence[str]] = ()) -> None:
        self.intents = intents
        self.threshold = threshold
        self.settings = settings
        self._encoder = encoder
        n_ngrams = encoder.ngrams.n_features
        coef_t = np.asarray(coef.T, dtype=np.float32)  # (features, intents + 1); last = none
        self._coef_t = np.ascontiguousarray(coef_t[:n_ngrams])
        self._coef_embedding_t = np.ascontiguousarray(coef_t[n_ngrams:]) if sim_embedding is not None else None
        self._intercept = intercept.astype(np.float32)
        order = np.argsort(sim_class, kind="stable")
        self._sim_embedding_t = (np.ascontiguousarray(sim_embedding[order].T, dtype=np.float32)
                                 if sim_embedding is not None else None)
        sim_t = sim_matrix[order].T.tocsr()
        # a small catalog's similarity matrix is kept dense: a sparse-dense product costs a fraction
        # of a sparse-sparse one and adds up the same terms in the same order
        self._sim_t = sim_t.toarray() if np.prod(sim_t.shape) <= DENSE_SIMILARITY_LIMIT else sim_t
        self._sim_classes, self._sim_starts = np.unique(sim_class[order], return_index=True)
        self._view_texts = [list(texts) for texts in view_texts]  # per intent: its own texts (weight >= 1)
        self._view: np.ndarray | None = None  # their embeddings' unit mean direction per intent (load_embedding_view)
        self._view_lock = threading.Lock()

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        training: Mapping[str, Sequence[str]],
        *,
        threshold: float,
        weights: Mapping[str, Sequence[float]] | None = None,
        negatives: Sequence[str] = (),
        settings: IntentSettings | None = None,
    ) -> IntentClassifier:
        """Fit on intent id -> training texts (deterministic).

        ``weights`` optionally gives a sample weight per training text (texts weighing less than 1
        inform the model but are not used for similarity). ``negatives`` are extra texts that
        belong to no intent (e.g. known out-of-scope requests); they join the built-in background.
        """
        settings = settings or IntentSettings()
        settings.confidence_weights()  # unknown settings fail before the work of fitting
        intents = [i for i in training if i != NONE_CLASS and any(t.strip() for t in training[i])]
        if not intents:
            raise ValueError("an intent classifier needs at least one intent with a training text")
        texts: list[str] = []
        labels: list[int] = []
        sample_weight: list[float] = []
        for index, intent in enumerate(intents):
            given = weights.get(intent) if weights else None
            w = list(given) if given is not None else [1.0] * len(training[intent])
            for text, weight in zip(training[intent], w, strict=True):
                if text.strip():
                    texts.append(text)
                    labels.append(index)
                    sample_weight.append(float(weight))
        none = len(intents)
        extra = [t for t in negatives if t.strip()]
        background = list(BACKGROUND) if settings.background else []
        encoder = _Encoder(settings, texts + extra + background)
        if background:
            # drop background sentences whose n-grams look like something the catalog covers
            x_intents = encoder.ngrams.transform(texts)
            overlap = (encoder.ngrams.transform(background) @ x_intents.T).max(axis=1).toarray().ravel()
            background = [b for b, o in zip(background, overlap, strict=True) if o < settings.background_overlap]
        negative_texts = extra + background
        x_ngrams, x_embedding = encoder.transform(texts + negative_texts)
        x = encoder.joined(x_ngrams, x_embedding)
        y = np.asarray(labels + [none] * len(negative_texts))
        sw = np.asarray(sample_weight + [1.0] * len(negative_texts), dtype=np.float64)
        totals = np.bincount(y, weights=sw, minlength=none + 1)
        present = totals > 0
        sw = sw * (len(y) / (present.sum() * totals[y]))  # every class carries the same total weight...
        for intent, factor in settings.class_weights:  # ...times its factor, if given
            if intent in intents:
                sw[y == intents.index(intent)] *= factor
        coef = np.zeros((none + 1, x.shape[1]))
        intercept = np.full(none + 1, -1.0 if settings.model == "svm" else -10.0)
        classes = np.flatnonzero(present)
        if len(classes) >= 2:
            model = _model(settings)
            model.fit(x, y, sample_weight=sw)
            if len(classes) == 2:  # binary models keep one row for the second class
                half = 1.0 if settings.model == "svm" else 0.5  # softmax over +-z/2 is the sigmoid of z
                coef[classes[1]], intercept[classes[1]] = half * model.coef_[0], half * model.intercept_[0]
                coef[classes[0]], intercept[classes[0]] = -half * model.coef_[0], -half * model.intercept_[0]
            else:
                coef[classes], intercept[classes] = model.coef_, model.intercept_
        else:  # a single intent and no negatives: everything scores like a perfect match
            intercept[classes] = 1.0
        strong = [i for i, w in enumerate(sample_weight) if w >= 1.0]
        sim_rows = _representatives(strong, y, x_ngrams, x_embedding, settings.similarity_examples)
        sim_rows += list(range(len(texts), x.shape[0]))
        view_texts = [[t for t, label, w in zip(texts, labels, sample_weight, strict=True) if label == k and w >= 1.0]
                      for k in range(len(intents))]
        return cls(intents=intents, threshold=threshold, settings=settings, encoder=encoder, coef=coef,
                   intercept=intercept, sim_matrix=x_ngrams[sim_rows],
                   sim_embedding=x_embedding[sim_rows] if x_embedding is not None else None, sim_class=y[sim_rows],
                   view_texts=view_texts)

    @classmethod
    def from_catalog(cls, catalog: Catalog, *, settings: IntentSettings | None = None) -> IntentClassifier:
        """Train on each intent's examples, name and description (and, lightly, its attributes)."""
        training: dict[str, list[str]] = {}
        weights: dict[str, list[float]] = {}
        for intent in catalog.intents():
            texts = [e for e in intent.examples if e.strip()]
            w = [1.0] * len(texts)
            for extra in (intent.name, intent.description, intent.id.replace("_", " ")):
                if extra.strip() and extra.strip().lower() not in {t.strip().lower() for t in texts}:
                    texts.append(extra)
                    w.append(1.0)
            attributes = " ".join(f"{a.label} {a.description}".strip() for a in intent.attributes)
            if attributes:
                texts.append(f"{intent.name} {attributes}")
                w.append(ATTRIBUTE_WEIGHT)
            training[intent.id] = texts
            weights[intent.id] = w
        return cls.fit(training, threshold=catalog.limits.intent_confidence, weights=weights, settings=settings)

    # --- prediction --------------------------------------------------------------------------
    def _signals(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Model scores and best similarity per class, each (texts, intents + 1); last = none."""
        x, e = self._encoder.transform(texts)
        score = np.asarray(x @ self._coef_t) + self._intercept
        sims = x @ self._sim_t
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        if e is not None:
            with _one_blas_thread():
                score += e @ self._coef_embedding_t
                sims += e @ self._sim_embedding_t
        if self.settings.model == "lr":  # log-probabilities
            score = score - _logsumexp(score)
        class_sim = np.zeros((x.shape[0], len(self.intents) + 1), dtype=np.float32)
        if sims.shape[1]:
            class_sim[:, self._sim_classes] = np.maximum.reduceat(sims, self._sim_starts, axis=1)
        return score, class_sim

    def _features(self, score: np.ndarray, class_sim: np.ndarray) -> np.ndarray:
        n = len(self.intents)
        own_score, own_sim = score[:, :n], class_sim[:, :n]
        return np.stack([own_score, own_score - _best_other(score)[:, :n],
                         own_sim, own_sim - _best_other(class_sim)[:, :n]], axis=-1)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """Confidence signals per text and intent, shape (texts, intents, 4): the model's score,
        its margin over the best other class (``__none__`` included), the best cosine similarity
        to the intent's own training texts, and that similarity's margin over the best other class."""
        return self._features(*self._signals(texts))

    def _confidence(self, feats: np.ndarray) -> np.ndarray:
        w = np.asarray(self.settings.confidence_weights(), dtype=np.float64)
        return _sigmoid(w[0] + feats.astype(np.float64) @ w[1:])

    def _score_segments(self, segs: Sequence[str], batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Confidence per segment and intent, and whether each segment looks like filler."""
        confs, filler = [], []
        for i in range(0, len(segs), batch):
            score, class_sim = self._signals(segs[i:i + batch])
            confs.append(self._confidence(self._features(score, class_sim)))
            filler.append(score.argmax(axis=1) == len(self.intents))
        return np.vstack(confs), np.concatenate(filler)

    def scores_many(self, texts: Sequence[str], *, batch: int = 256) -> np.ndarray:
        """Confidence per text and intent (in :attr:`intents` order), each the best over the
        text's segments: the whole, and for a long text its sentences, adjacent pairs, main clauses
        before a reason, and the whole without the sentences that the model puts in the ``__none__``
        class (filler)."""
        n = len(self.intents)
        if not texts:
            return np.zeros((0, n))
        segs: list[str] = []
        counted: list[bool] = []
        owner: list[int] = []
        sentence_rows: dict[int, list[tuple[int, str]]] = {}
        for t, text in enumerate(texts):
            whole, sentences = split_email(text, self.settings.max_sentences)
            segs.append(whole or text)
            counted.append(True)
            owner.append(t)
            long = (self.settings.segment_emails and len(sentences) > 1
                    and len(_WORD.findall(whole)) > self.settings.segment_min_words)
            if not long:
                continue
            rows = []
            for sentence in sentences:
                rows.append((len(segs), sentence))
                segs.append(sentence)
                counted.append(len(_WORD.findall(sentence)) >= MIN_SENTENCE_WORDS)
                owner.append(t)
            sentence_rows[t] = rows
            for part in _parts_across_sentences(sentences):
                segs.append(part)
                counted.append(True)
                owner.append(t)
        conf, filler = self._score_segments(segs, batch)
        conf[~np.asarray(counted)] = 0.0
        is_part = np.ones(len(segs), dtype=bool)
        is_part[[i for i, t in enumerate(owner) if i == 0 or owner[i - 1] != t]] = False
        conf[is_part] = np.maximum(conf[is_part] - self.settings.part_penalty, 0.0)
        best = np.zeros((len(texts), n))
        np.maximum.at(best, np.asarray(owner), conf)
        cores, core_owner = [], []
        for t, rows in sentence_rows.items():
            kept = [sentence for row, sentence in rows if not filler[row]]
            if kept and len(kept) < len(rows):
                cores.append(" ".join(kept))
                core_owner.append(t)
        if cores:
            core_conf, _ = self._score_segments(cores, batch)
            core_conf = np.maximum(core_conf - self.settings.part_penalty, 0.0)
            np.maximum.at(best, np.asarray(core_owner), core_conf)
        return best

    def scores(self, text: str) -> np.ndarray:
        """Confidence per intent (in :attr:`intents` order), best segment of the text."""
        row: np.ndarray = self.scores_many([text])[0]
        return row

    def predict(self, text: str) -> IntentGuess:
        """The best intent of a text; ``intent_id`` is None when its confidence is below the threshold."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentGuess]:
        """:meth:`predict` for many texts at once (batched; same results)."""
        live = [i for i, t in enumerate(texts) if t and t.strip()]
        guesses = [IntentGuess(intent_id=None, confidence=0.0, ranking=[]) for _ in texts]
        if live:
            for i, row in zip(live, self.scores_many([texts[i] for i in live]), strict=True):
                guesses[i] = self._guess(row)
        return guesses

    def embedding_view(self, text: str) -> dict[str, float]:
        """A second, independent reading of ``text``: per intent, the cosine similarity of the
        bundled sentence embedding (:mod:`agent_graph.brain.embedding`) of the whole cleaned text
        (greetings, quotes and sign-off removed) to the mean direction of the intent's own training
        texts (examples, name, description). It shares no feature with the n-gram model, so where it
        prefers another intent the two readings disagree: the decision path uses that to tell an
        ambiguous identification (``nodes/understanding.py``). The model is loaded, and the training
        texts embedded, on the first call (or by :meth:`load_embedding_view`)."""
        whole, _ = split_email(text, self.settings.max_sentences)
        with _one_blas_thread():
            similarity = self.load_embedding_view() @ embedding.embed([whole])[0]
        return {intent: round(float(s), 4) for intent, s in zip(self.intents, similarity, strict=True)}

    def load_embedding_view(self) -> np.ndarray:
        """Each intent's unit mean direction of its embedded training texts (weight >= 1), computed
        once, loading the embedding model (once per process)."""
        with self._view_lock:
            if self._view is None:
                rows = [embedding.embed(texts).sum(axis=0) for texts in self._view_texts]
                sums = np.vstack(rows) if rows else np.zeros((0, embedding.DIMENSION))
                norms = np.linalg.norm(sums, axis=1, keepdims=True)
                self._view = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0).astype(np.float32)
            return self._view

    def _guess(self, scores: np.ndarray) -> IntentGuess:
        order = np.argsort(-scores, kind="stable")[:RANKING_SIZE]
        ranking = [(self.intents[i], round(float(scores[i]), 4)) for i in order]
        best_id, best = ranking[0]
        return IntentGuess(intent_id=best_id if best >= self.threshold else None, confidence=best, ranking=ranking)


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager[object]:
    """The embedding block's products run on one BLAS thread. They are small (a few sentences
    by 256 dimensions by a few thousand rows at most), and a second BLAS thread only adds a
    hand-over: on a busy machine it waits for a core (the figures: README.md, docs/intent-eval.md)."""
    limited: AbstractContextManager[object] = _blas().limit(limits=1, user_api="blas")
    return limited


def _representatives(rows: Sequence[int], y: np.ndarray, x: sp.csr_matrix, e: np.ndarray | None,
                     cap: int) -> list[int]:
    """The training rows of each intent kept for the nearest-example similarity: all of them when
    an intent has at most ``cap``, else the ``cap`` rows that best cover the others (greedy
    facility location on the cosine similarity: each pick adds most to the sum over the intent's
    rows of their best similarity to a pick). A one-sentence prediction costs a dot product with
    every kept row, so on a dataset of thousands of examples this bounds the prediction time,
    while a catalog's few examples per intent are all kept."""
    by_class: dict[int, list[int]] = {}
    for row in rows:
        by_class.setdefault(int(y[row]), []).append(row)
    kept: list[int] = []
    for members in by_class.values():
        if len(members) <= cap:
            kept.extend(members)
            continue
        sim = (x[members] @ x[members].T).toarray()
        if e is not None:
            sim += e[members] @ e[members].T
        cover = np.zeros(len(members))
        picks: list[int] = []
        for _ in range(cap):
            gain = np.maximum(sim, cover[:, None]).sum(axis=0)
            gain[picks] = -np.inf
            pick = int(np.argmax(gain))
            picks.append(pick)
            cover = np.maximum(cover, sim[:, pick])
        kept.extend(members[j] for j in sorted(picks))
    return kept


def _model(settings: IntentSettings) -> LinearSVC | LogisticRegression:
    if settings.model == "svm":
        return LinearSVC(C=settings.c, max_iter=settings.max_iter * 10, random_state=0)
    return LogisticRegression(C=settings.c, max_iter=settings.max_iter, tol=1e-3, random_state=0)


def _logsumexp(m: np.ndarray) -> np.ndarray:
    top = m.max(axis=1, keepdims=True)
    result: np.ndarray = top + np.log(np.exp(m - top).sum(axis=1, keepdims=True))
    return result


def _best_other(m: np.ndarray) -> np.ndarray:
    """For each cell, the maximum of its row excluding that cell."""
    if m.shape[1] == 1:
        return np.zeros_like(m)
    top2 = np.partition(m, -2, axis=1)[:, -2:]
    first, second = top2[:, 1:2], top2[:, 0:1]
    return np.where(m >= first, second, first)


# --- cache ------------------------------------------------------------------------------------

_CACHE_SIZE = 8
_cache: OrderedDict[str, IntentClassifier] = OrderedDict()
_cache_lock = threading.Lock()


_content_keys: dict[int, tuple[weakref.ref[Catalog], str]] = {}  # id -> (catalog, its content key)


def _content_key(catalog: Catalog) -> str:
    """A hash of the catalog's content, computed once per catalog object.

    Every email asks for its catalog's classifier, and serialising and hashing a catalog costs
    about a tenth of scoring the email. Catalog models are frozen and a loaded catalog is not
    changed in place (its lists could be, but nothing does), so the key of a live catalog object
    stays valid; the weak reference tells it apart from a later object given the same ``id``.
    """
    entry = _content_keys.get(id(catalog))
    if entry is not None and entry[0]() is catalog:
        return entry[1]
    key = hashlib.sha256(catalog.model_dump_json().encode("utf-8")).hexdigest()
    with _cache_lock:
        for ident in [ident for ident, (ref, _) in _content_keys.items() if ref() is None]:
            del _content_keys[ident]
        _content_keys[id(catalog)] = (weakref.ref(catalog), key)
    return key


def classifier_for(catalog: Catalog) -> IntentClassifier:
    """The fitted classifier of a catalog, cached by the catalog's content (small LRU)."""
    key = _content_key(catalog)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    classifier = IntentClassifier.from_catalog(catalog)
    with _cache_lock:
        _cache[key] = classifier
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return classifier


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


__all__ = [
    "BACKGROUND",
    "CALIBRATION",
    "NONE_CLASS",
    "IntentClassifier",
    "IntentSettings",
    "UncalibratedSettings",
    "classifier_for",
    "clean_email",
    "clear_cache",
    "normalise",
    "segments",
]

