"""The intent classifier's fast paths give what the straightforward computation gives.

``_Vectoriser.transform`` re-implements scikit-learn's analysis and TF-IDF arithmetic (character
n-grams looked up per distinct word, word n-grams from the tokens); the thesaurus concepts are
found in one pass rather than a search per concept; a small catalog's similarity matrix is dense.
Each is checked here against scikit-learn itself or the plain computation, on texts chosen to be
awkward: punctuation, accents, one-letter words, repeated words, other scripts, unusual
whitespace, empty strings.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from agent_graph.brain import intent as intent_module
from agent_graph.brain.intent import CONCEPTS, IntentClassifier, IntentSettings, normalise

TRAINING = [
    "I want to cancel my order", "Please refund the double charge on my card", "Where is my parcel?",
    "Change my delivery address to 12 Rue de l'Église", "Café crème brûlée, naïve façade", "a b c a b c",
    "ΟΔΟΣ ΟΔΟΣ σοφος", "İstanbul straße ǅemal ﬁle", "日本語のテキスト 中文", "ok ok ok", "x",
    "I haven't got it, still waiting for the package", "log in locked out password reset",
]
TRICKY = [
    "", " ", "\t\n", "a", "I", "ab", "a b c d e", "ok ok ok ok ok", "Refund refund REFUND refund!!!",
    "Café crème brûlée — naïve façade, Ærø, straße, İstanbul, ǅemal", "日本語のテキスト 中文 한국어",
    "emoji 😀😀 test 👍🏽", "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em\u2009thin\u2028line\x1cfs",
    "x" * 40, "a.b,c;d:e!f?g", "don't won't can't it's haven\u2019t got it", "12345 67 8.9 order #ORD-604518",
    "https://example.com/path?q=1 www.test.org mail me at a.b+c@d-e.co.uk", "\u2018quoted\u2019 \u201cdouble\u201d",
    "ǈ ǋ ﬁ ﬀ ß ẞ", "\u0130\u0049\u0131", "ΟΔΟΣ. ΟΔΟΣ οδοσ Σ", "The the THE the. The", "  leading and trailing  ",
    "-- __ ** ..", "e\u0301 combining", "I want to cancel my order. Where is my parcel? Refund please!",
    "cancel cancel cancel my my my order order", "I was charged twice, charged again by mistake",
]
SETTINGS = [IntentSettings(), IntentSettings(word_ngrams=(1, 3), char_ngrams=(1, 4), concepts=False)]


def _reference(settings: IntentSettings, texts: list[str]) -> sp.csr_matrix:
    """What scikit-learn's own vectorisers give: each block TF-IDF and L2-normalised, rows scaled
    so that the blocks together have unit length."""
    corpus = [normalise(t, concepts=settings.concepts) for t in TRAINING]
    word = TfidfVectorizer(analyzer="word", ngram_range=settings.word_ngrams, sublinear_tf=True,
                           token_pattern=r"(?u)\b\w+\b").fit(corpus)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=settings.char_ngrams, sublinear_tf=True).fit(corpus)
    normalised = [normalise(t, concepts=settings.concepts) for t in texts]
    x = sp.hstack([word.transform(normalised), char.transform(normalised)]).tocsr()
    blocks = (word.transform(normalised).getnnz(axis=1) > 0).astype(int) + (char.transform(normalised).getnnz(axis=1) > 0)
    return sp.diags(1.0 / np.sqrt(np.maximum(blocks, 1))) @ x


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "other-ranges"])
def test_transform_matches_scikit_learn(settings: IntentSettings) -> None:
    texts = TRICKY + TRAINING + [" ".join(TRICKY)]
    ours = intent_module._Vectoriser(settings, TRAINING).transform(texts)
    expected = _reference(settings, texts)
    assert ours.shape == expected.shape
    for row in range(len(texts)):
        assert set(ours[row].indices) == set(expected[row].indices), texts[row]
    assert np.allclose(ours.toarray(), expected.toarray(), rtol=0, atol=1e-6)
    # the same text gives the same row whatever else is in the batch, and the word cache is warm now
    again = intent_module._Vectoriser(settings, TRAINING)
    assert all((again.transform([t]) != ours[i]).nnz == 0 for i, t in enumerate(texts))


@pytest.mark.parametrize("ngram_range", [(1, 1), (2, 2), (2, 5), (1, 3), (3, 6)])
def test_char_ngrams_of_a_word_match_scikit_learn(ngram_range: tuple[int, int]) -> None:
    analyse = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=False).build_analyzer()
    words = ["a", "ab", "abc", "abcd", "abcdefghij", "ça", "ǅ", "日本語", "😀", "a.b", "don't", "0"]
    for word in words:
        assert intent_module._char_wb_ngrams(word, *ngram_range) == analyse(word), word
    # a text's n-grams are its words' n-grams in turn
    text = "  ab  abc\ta   ǅ ab "
    assert [g for w in text.split() for g in intent_module._char_wb_ngrams(w, *ngram_range)] == analyse(text)


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3), (1, 3), (3, 3)])
def test_word_ngrams_match_scikit_learn(ngram_range: tuple[int, int]) -> None:
    vectoriser = TfidfVectorizer(analyzer="word", ngram_range=ngram_range, token_pattern=r"(?u)\b\w+\b")
    analyse, tokenize, preprocess = vectoriser.build_analyzer(), vectoriser.build_tokenizer(), vectoriser.build_preprocessor()
    for text in TRICKY:
        assert list(intent_module._word_ngrams(tokenize(preprocess(text)), *ngram_range)) == analyse(text), text


def test_concepts_found_in_one_pass_match_a_search_per_concept() -> None:
    separate = [(name, re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")) for name, pattern in CONCEPTS]
    texts = TRICKY + TRAINING + [
        "my credentials don't work", "i changed my mind, cancel it", "charged again and double billed",
        "not yet, still waiting for it", "put it on hold please", "they took 0 euros from my account",
        "send them back for a refund", "end my subscription", "log into my account", "forget me",
        "xcancel cancelx _cancel cancel_ (cancel) can't remember", "sign me up for a spot", "xcancel",
        "recharged the battery", "untracked prefunded", "a spotless place",
    ]
    for text in texts:
        text = normalise(text)
        assert intent_module._concepts_in(text) == [name for name, pattern in separate if pattern.search(text)], text


def test_dense_and_sparse_similarities_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    training = {"cancel": ["Cancel my order", "I want to cancel"], "refund": ["Refund me", "I want my money back"],
                "track": ["Where is my parcel?", "Track my order"]}
    texts = TRICKY + ["Hello, I ordered a kettle last week and it still hasn't arrived. Where is it? Thanks"]
    dense = IntentClassifier.fit(training, threshold=0.5)
    monkeypatch.setattr(intent_module, "DENSE_SIMILARITY_LIMIT", 0)
    sparse = IntentClassifier.fit(training, threshold=0.5)
    assert isinstance(dense._sim_t, np.ndarray) and sp.issparse(sparse._sim_t)
    assert np.array_equal(dense.scores_many(texts), sparse.scores_many(texts))
    assert np.array_equal(dense.features(texts), sparse.features(texts))
