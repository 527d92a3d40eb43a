"""The two readings of an email combined (brain/two_readings.py): the n-gram confidence and the
sentence embedding's reading, weighed as fitted on public validation episodes."""

from __future__ import annotations

import numpy as np

from agent_graph.brain import two_readings
from agent_graph.brain.intent import IntentClassifier

MEMBERSHIP = {
    "freeze": ["Please freeze my membership for two months", "Pause my membership please, I'm travelling",
               "Can I put my gym membership on hold while I recover from an injury?"],
    "cancel": ["I want to cancel my membership", "Please end my gym contract, I'm moving away",
               "I no longer want to be a member, please close it"],
    "card": ["I have a new bank card, please update my payment details",
             "Please change the card my direct debit comes from"],
}


def test_features_are_each_intents_signals_and_margins_over_the_best_other():
    features = two_readings.reading_features(np.array([0.9, 0.3, 0.1]), np.array([0.2, 0.5, 0.4]))
    np.testing.assert_allclose(features, [[0.9, 0.6, 0.2, -0.3], [0.3, -0.6, 0.5, 0.1], [0.1, -0.8, 0.4, -0.1]])


def test_a_confident_ngram_guess_the_embedding_does_not_share_falls_below_the_hold():
    """ninth_org/n-a1's readings: the n-gram model is 0.87 sure of a freeze, the embedding puts the
    cancellation 0.028 ahead; together the freeze is less likely right than not."""
    combined = two_readings.combine({"freeze": 0.87, "cancel": 0.45, "card": 0.01},
                                    {"freeze": 0.409, "cancel": 0.437, "card": 0.164})
    assert combined["freeze"] < two_readings.HOLD
    agreeing = two_readings.combine({"freeze": 0.87, "cancel": 0.45, "card": 0.01},
                                    {"freeze": 0.6, "cancel": 0.39, "card": 0.16})
    assert agreeing["freeze"] > 0.9


def test_on_a_fitted_classifier_clear_requests_pass_the_hold():
    classifier = IntentClassifier.fit(MEMBERSHIP, threshold=0.5)
    for text, intent in [("Please cancel my membership, I am moving to Leeds", "cancel"),
                         ("Freeze my membership for the summer please", "freeze")]:
        guess = classifier.predict(text)
        combined = two_readings.combine(dict(guess.ranking), classifier.embedding_view(text))
        assert guess.intent_id == intent and combined[intent] >= two_readings.HOLD
