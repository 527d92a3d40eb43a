"""The two readings of an email combined: the offline classifier's n-gram confidence and the bundled
sentence embedding's reading (:meth:`IntentClassifier.embedding_view`), which share no feature.

One probability per intent that it is what the customer wants, by a logistic regression over four
signals per intent (:func:`reading_features`). The weights were fitted on public validation data
only, never on the suites: few-shot episodes of BANKING77 and CLINC150 shaped like a catalog
(``evals/confidence/two_readings.py``; docs/intent-eval.md, "The second reading"). The decision path
uses it to hold a resolution the readings together are unsure of (``nodes/understanding.py``).
"""

from __future__ import annotations

import numpy as np

# Bias and weights of: the n-gram confidence, its margin over the best other intent, the embedding
# cosine, and that cosine's margin over the best other intent.
WEIGHTS = (-3.665, 0.779, 1.786, 5.405, 7.920)
# Below this combined probability of an identified intent that has a rival, the rival the readings
# prefer counts as close as the guess, so the resolution is held for review: the highest threshold
# at which at most 1 % of the right confident n-gram predictions (>= the default send_confidence) of
# the validation episodes are held (it holds 33 % of the wrong ones).
HOLD = 0.48


def reading_features(scores: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Per intent (rows): its n-gram confidence, that confidence's margin over the best other intent,
    its embedding cosine, and that cosine's margin over the best other intent."""
    return np.stack([scores, scores - _best_other(scores), view, view - _best_other(view)], axis=1)


def combine(ranking: dict[str, float], view: dict[str, float]) -> dict[str, float]:
    """Per intent of ``view``: the probability that it is what the customer wants, by both readings;
    an intent the n-gram ranking does not list counts 0 there."""
    intents = list(view)
    features = reading_features(np.array([ranking.get(i, 0.0) for i in intents]), np.array([view[i] for i in intents]))
    bias, *weights = WEIGHTS
    combined = 1.0 / (1.0 + np.exp(-(bias + features @ np.asarray(weights))))
    return {i: round(float(c), 4) for i, c in zip(intents, combined, strict=True)}


def _best_other(values: np.ndarray) -> np.ndarray:
    """For each entry, the largest of the others (0 when there is no other)."""
    if len(values) < 2:
        return np.zeros_like(values)
    second, first = np.partition(values, -2)[-2:]
    others: np.ndarray = np.where(values >= first, second, first)
    return others
