"""Intent classification for customer emails, offline and deterministic (behaviour.md §5).

A catalog has few examples per intent (2-6) and a handful of intents, while customer emails
are longer than examples and often about something no intent covers. So the classifier is a
linear model *plus* a calibrated confidence:

* **Features**: TF-IDF word 1-2 grams and character (``char_wb``) 2-5 grams, sublinear tf, on
  lightly normalised text (lower case, digit runs as ``0``, URLs/addresses replaced, and one
  ``zz<concept>`` token per concept of a small generic customer-service thesaurus, so that
  "suspend" meets "pause" and "haven't got it" meets "hasn't arrived"). The two blocks are
  L2-normalised and concatenated at unit length, so a dot product is a cosine similarity.
* **Model**: a linear SVM (one-vs-rest ``LinearSVC``; ``IntentSettings(model="lr")`` gives
  multinomial logistic regression) over the intents *plus* a ``__none__`` class trained on a small
  built-in background of content-free email sentences (greetings, sign-offs, "I have a
  question", pleasantries, spam) and any caller-supplied negatives. Background sentences that
  resemble a training text of the catalog are dropped, so the background never competes with an
  intent the catalog covers. Classes are balanced by sample weight.
* **Emails**: greeting lines, quoted lines and everything from a sign-off line on are removed. A
  text of up to :data:`SEGMENT_MIN_WORDS` words is scored whole. A longer one is also scored per
  sentence (of at least :data:`MIN_SENTENCE_WORDS` words), per pair of adjacent sentences, and
  as the whole without its filler sentences (those the model puts in ``__none__``); each intent
  keeps its best segment, a part of the email counting ``part_penalty`` (0.1) less than the
  whole, against the optimism of taking a maximum over many parts.
* **Confidence**: for a segment and an intent, ``sigmoid(w . features)`` over four signals: the
  model's score for the intent, its margin over the best other class (``__none__`` included), the
  best cosine similarity to the intent's own training texts, and that similarity's margin over
  the best other class. The weights (:data:`CALIBRATION`) were fitted once, offline, by logistic
  regression on few-shot episodes drawn from the public CLINC150 train (examples) and validation
  (queries) splits: 5-15 random intents with 2-6 examples and the intent name each; queries of
  those intents are positives when ranked right, queries of other intents and out-of-scope
  queries are negatives (``python -m agent_graph.brain.intent_datasets calibrate``). So the
  confidence estimates "the top intent is right and the text is about it", a threshold of 0.5
  means "more likely right than not", and nothing in it depends on a particular catalog.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from agent_graph.brain.types import IntentGuess
from agent_graph.catalog import Catalog

NONE_CLASS = "__none__"
ATTRIBUTE_WEIGHT = 0.3  # sample weight of the "name + attribute labels" training text of an intent
RANKING_SIZE = 3
MIN_SENTENCE_WORDS = 5  # shorter sentences are only scored together with a neighbour
SEGMENT_MIN_WORDS = 15  # texts up to this many words are scored whole only

# Weights of the confidence per model kind: bias, score, score margin, own similarity, similarity
# margin. Fitted offline on CLINC150 few-shot episodes with the default settings of each kind by
# ``python -m agent_graph.brain.intent_datasets calibrate PATH --model KIND`` (see module doc).
CALIBRATION: dict[str, tuple[float, ...]] = {
    "svm": (1.065, 6.83, -0.135, 1.079, -1.634),
    "lr": (1.385, 1.943, 0.202, 2.423, -0.164),
}


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
    calibration: tuple[float, ...] | None = None  # None: CALIBRATION[model]
    max_iter: int = 300


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
    ("cancel", r"cancel\w*|terminat\w*|discontinu\w*|(?:end|stop|quit) (?:my|our|the|this) |opt(?:ing)? out|unsubscrib\w*"),
    ("pause", r"pause\w*|freez\w*|frozen|suspen\w*|on hold|put \w+ on hold|take a break"),
    ("receive", r"arriv\w*|receiv\w*|deliver\w*|show(?:n|ed)? up|turn(?:ed)? up|(?:not|\w+n't|never) (?:got|gotten|come|seen)"),
    ("ship", r"ship\w*|dispatch\w*|parcel\w*|package\w*|courier\w*|postage|posted"),
    ("track", r"track\w*|where is|whereabouts|status of"),
    ("late", r"late|delay\w*|still waiting|waiting for|overdue|taking (?:so|too) long|not yet"),
    ("refund", r"refund\w*|money back|reimburs\w*|pay (?:me )?back|repay\w*|compensat\w*|credit back"),
    ("return", r"return\w*|send (?:it |them |this |\w+ )?back|exchang\w*"),
    ("charge", r"charg\w*|bill(?:ed|ing)?|fees?|invoic\w*|debit\w*|paid|payments?|statement|"
               r"(?:took|taken|take|taking) (?:\w+ )?(?:money|\S+ (?:euros?|dollars?|pounds?))|deducted"),
    ("twice", r"twice|double\w*|duplicat\w*|two times|2 times|charged again"),
    ("wrong", r"wrong|incorrect\w*|mistak\w*|error\w*|by accident|accidental\w*"),
    ("broken", r"broken|damag\w*|defect\w*|faulty|crack\w*|smash\w*|scratch\w*|not working|(?:doesn't|does not|won't|will not) work|stopped working"),
    ("login", r"log ?in\w*|log into|logging|sign(?:ing)? ?in(?:to)?|signin|access (?:my|the) account|locked out|credentials"),
    ("password", r"password\w*|passcode|pin code|credentials"),
    ("forgot", r"forg[oe]t\w*|reset\w*|can't remember|cannot remember|don't remember"),
    ("address", r"address\w*|moved|moving|relocat\w*|new home|move house"),
    ("change", r"chang\w*|updat\w*|modif\w*|amend\w*|edit\w*|correct (?:my|the)"),
    ("delete", r"delet\w*|remov\w*|eras\w*|close (?:my|our|the) account|deactivat\w*|gdpr|personal data|forget me"),
    ("book", r"book(?:ing|ed)?|reserv\w*|sign (?:me )?up|register\w*|enrol\w*|appointment\w*|schedul\w*|a spot|a place|a seat"),
    ("price", r"pric\w*|cost\w*|how much|rates?|tariff\w*|quote"),
    ("complaint", r"complain\w*|disappoint\w*|unhappy|unacceptable|terrible|awful|dissatisf\w*|frustrat\w*|not happy|poor service"),
    ("purchase", r"orders?|ordered|purchas\w*|bought|buy(?:ing)?"),
    ("subscription", r"subscri\w*|membership\w*|contract\w*"),
    ("mind", r"changed my mind|don't (?:want|need) (?:it|this|them)|no longer (?:want|need)|by mistake"),
)
_CONCEPTS = [(name, re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")) for name, pattern in CONCEPTS]


def normalise(text: str, *, concepts: bool = False) -> str:
    """Lower case, URLs and email addresses as placeholder words, digit runs as ``0``; with
    ``concepts``, a ``zz<concept>`` token appended for every thesaurus concept the text mentions."""
    text = _URL.sub(" urlx ", text)
    text = _EMAIL.sub(" emailx ", text)
    text = _DIGITS.sub("0", text.lower().replace("\u2019", "'"))
    text = _SPACE.sub(" ", text).strip()
    if concepts:
        found = [f"zz{name}" for name, pattern in _CONCEPTS if pattern.search(text)]
        if found:
            text = f"{text} {' '.join(found)}"
    return text


_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day)|to\s+whom\s+it\s+may\s+concern)"
    r"\b[^.!?\n]{0,40}?[,!:.]?\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?i:(?:many\s+|much\s+)?thanks?(?:\s+you)?(?:\s+(?:so\s+much|again|in\s+advance|a\s+lot))?|thx|cheers|"
    r"(?:best|kind|warm|warmest)(?:\s+regards|\s+wishes)?|regards|sincerely|yours(?:\s+(?:truly|sincerely|faithfully))?|"
    r"all\s+the\s+best|take\s+care|br|--+|__+)\s*[,.!]*(?:\s*[A-Z][\w.'-]*){0,3}\s*[,.!]*\s*$"
)
_SENT_FROM = re.compile(r"^\s*sent\s+from\s+my\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")


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


def segments(text: str, max_sentences: int = 12, min_words: int = SEGMENT_MIN_WORDS) -> list[str]:
    """What is scored for an email: the cleaned whole and, when that has more than ``min_words``
    words, each sentence of at least :data:`MIN_SENTENCE_WORDS` words and each pair of adjacent
    sentences. A short text is one request; a long one mixes the request with context and filler.
    (:meth:`IntentClassifier.scores_many` also scores the whole without its filler sentences.)"""
    whole, sentences = split_email(text, max_sentences)
    out = [whole]
    if len(sentences) > 1 and len(_WORD.findall(whole)) > min_words:
        out.extend(s for s in sentences if len(_WORD.findall(s)) >= MIN_SENTENCE_WORDS)
        out.extend(f"{a} {b}" for a, b in zip(sentences, sentences[1:], strict=False))
    seen: set[str] = set()
    return [s for s in out if s and not (s in seen or seen.add(s))]


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
    return 1.0 / (1.0 + np.exp(-x))


class _Vectoriser:
    """TF-IDF word and character n-grams, each block L2-normalised, rows scaled to unit length.

    Fitted with scikit-learn; ``transform`` is a lean re-implementation of the same arithmetic
    (sublinear tf x idf, L2) without scikit-learn's per-call validation, which dominates the time
    of a one-sentence prediction.
    """

    def __init__(self, settings: IntentSettings, corpus: Sequence[str]) -> None:
        self._concepts = settings.concepts
        corpus = [normalise(t, concepts=self._concepts) for t in corpus]
        word = TfidfVectorizer(analyzer="word", ngram_range=settings.word_ngrams, sublinear_tf=True,
                               token_pattern=r"(?u)\b\w+\b")
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=settings.char_ngrams, sublinear_tf=True)
        self._blocks = []
        offset = 0
        for vectoriser in (word, char):
            vectoriser.fit(corpus)
            vocabulary = vectoriser.vocabulary_
            self._blocks.append((vectoriser.build_analyzer(), vocabulary, vectoriser.idf_.astype(np.float64), offset))
            offset += len(vocabulary)
        self.n_features = offset

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for text in texts:
            text = normalise(text, concepts=self._concepts)
            row_idx: list[np.ndarray] = []
            row_val: list[np.ndarray] = []
            for analyse, vocabulary, idf, offset in self._blocks:
                counts: dict[int, int] = {}
                for gram in analyse(text):
                    j = vocabulary.get(gram)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if not counts:
                    continue
                idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                val = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[idx]
                row_idx.append(idx + offset)
                row_val.append(val / np.linalg.norm(val))
            if row_idx:
                scale = 1.0 / np.sqrt(len(row_idx))
                for idx, val in zip(row_idx, row_val, strict=True):
                    indices.extend(idx.tolist())
                    data.extend((val * scale).tolist())
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(texts), self.n_features),
        )


class IntentClassifier:
    """A fitted classifier; use :meth:`fit` or :meth:`from_catalog`, then :meth:`predict`.

    ``intents`` lists the intent ids in the order of score arrays.
    """

    def __init__(self, *, intents: list[str], threshold: float, settings: IntentSettings, vectoriser: _Vectoriser,
                 coef: np.ndarray, intercept: np.ndarray, sim_matrix: sp.csr_matrix, sim_class: np.ndarray) -> None:
        self.intents = intents
        self.threshold = threshold
        self.settings = settings
        self._vectoriser = vectoriser
        self._coef_t = np.ascontiguousarray(coef.T, dtype=np.float32)  # (features, intents + 1); last = none
        self._intercept = intercept.astype(np.float32)
        order = np.argsort(sim_class, kind="stable")
        self._sim_t = sim_matrix[order].T.tocsr()
        self._sim_classes, self._sim_starts = np.unique(sim_class[order], return_index=True)

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
        vectoriser = _Vectoriser(settings, texts + extra + background)
        x_intents = vectoriser.transform(texts)
        if background:
            # drop background sentences that look like something the catalog covers
            x_bg = vectoriser.transform(background)
            overlap = (x_bg @ x_intents.T).max(axis=1).toarray().ravel()
            background = [b for b, o in zip(background, overlap, strict=True) if o < settings.background_overlap]
        negative_texts = extra + background
        x = sp.vstack([x_intents, vectoriser.transform(negative_texts)]).tocsr() if negative_texts else x_intents
        y = np.asarray(labels + [none] * len(negative_texts))
        sw = np.asarray(sample_weight + [1.0] * len(negative_texts), dtype=np.float64)
        totals = np.bincount(y, weights=sw, minlength=none + 1)
        present = totals > 0
        sw = sw * (len(y) / (present.sum() * totals[y]))  # every class carries the same total weight
        coef = np.zeros((none + 1, vectoriser.n_features))
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
        sim_rows = strong + list(range(len(texts), x.shape[0]))
        return cls(intents=intents, threshold=threshold, settings=settings, vectoriser=vectoriser, coef=coef,
                   intercept=intercept, sim_matrix=x[sim_rows], sim_class=y[sim_rows])

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
        x = self._vectoriser.transform(texts)
        score = np.asarray(x @ self._coef_t) + self._intercept
        if self.settings.model == "lr":  # log-probabilities
            score = score - _logsumexp(score)
        sims = (x @ self._sim_t).toarray()
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
        w = np.asarray(self.settings.calibration or CALIBRATION[self.settings.model], dtype=np.float64)
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
        text's segments: the whole, and for a long text its sentences, adjacent pairs, and the
        whole without the sentences that the model puts in the ``__none__`` class (filler)."""
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
            for a, b in zip(sentences, sentences[1:], strict=False):
                segs.append(f"{a} {b}")
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
        return self.scores_many([text])[0]

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

    def _guess(self, scores: np.ndarray) -> IntentGuess:
        order = np.argsort(-scores, kind="stable")[:RANKING_SIZE]
        ranking = [(self.intents[i], round(float(scores[i]), 4)) for i in order]
        best_id, best = ranking[0]
        return IntentGuess(intent_id=best_id if best >= self.threshold else None, confidence=best, ranking=ranking)


def _model(settings: IntentSettings) -> LinearSVC | LogisticRegression:
    if settings.model == "svm":
        return LinearSVC(C=settings.c, max_iter=settings.max_iter * 10, random_state=0)
    return LogisticRegression(C=settings.c, max_iter=settings.max_iter, tol=1e-3, random_state=0)


def _logsumexp(m: np.ndarray) -> np.ndarray:
    top = m.max(axis=1, keepdims=True)
    return top + np.log(np.exp(m - top).sum(axis=1, keepdims=True))


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


def classifier_for(catalog: Catalog) -> IntentClassifier:
    """The fitted classifier of a catalog, cached by the catalog's content (small LRU)."""
    key = hashlib.sha256(catalog.model_dump_json().encode("utf-8")).hexdigest()
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
    "BACKGROUND", "CALIBRATION", "IntentClassifier", "IntentSettings", "NONE_CLASS", "classifier_for",
    "clean_email", "clear_cache", "normalise", "segments",
]

