"""The combined confidence of the two readings of an email (docs/intent-eval.md, "The second reading").

The offline classifier's n-gram confidence and the bundled sentence embedding's reading
(``IntentClassifier.embedding_view``) are combined by a logistic regression fitted here, on public
validation data only: few-shot episodes drawn from BANKING77 and CLINC150 like a catalog (4-8 random
intents, 5 examples each from the ``train`` split, the catalog's classifier settings), queried with
``val`` sentences of those intents (3 each), of other intents (4) and, for CLINC150, out-of-scope
ones (2). Each (query, intent) pair is one row: the n-gram confidence of the intent, its margin over
the best other intent, the embedding cosine of the intent, and that cosine's margin over the best
other intent; the label is whether the intent is the query's. Prints the weights
(``brain/two_readings.WEIGHTS``) and, for candidate thresholds, how many confident
n-gram predictions (>= the default ``limits.send_confidence``) a combined confidence below the
threshold flags, right and wrong. Run from the repository root (about two minutes):

    PYTHONPATH=. .venv/bin/python evals/confidence/two_readings.py ../shared/datasets
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from agent_graph.brain import embedding
from agent_graph.brain.intent import IntentClassifier, split_email
from agent_graph.intent_eval.datasets import OOS, by_intent, load_banking77, load_clinc150
from agent_graph.brain.two_readings import reading_features
from agent_graph.catalog import DEFAULT_SEND_CONFIDENCE

EPISODES = 300
CANDIDATES = [0.3, 0.4, 0.42, 0.44, 0.45, 0.46, 0.48, 0.5, 0.55, 0.6, 0.7]


def episodes(splits: dict[str, list[tuple[str, str]]], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, int | None]]:
    """(n-gram confidences, embedding cosines, index of the right intent or None) per query."""
    train, val = by_intent(splits["train"]), splits["val"]
    val_by, oos = by_intent(val), [t for t, i in val if i == OOS]
    rng = random.Random(seed)
    out = []
    for _ in range(EPISODES):
        intents = rng.sample(sorted(train), rng.randint(4, 8))
        classifier = IntentClassifier.fit({i: rng.sample(train[i], 5) for i in intents}, threshold=0.5)
        queries: list[tuple[str, int | None]] = [(t, k) for k, i in enumerate(intents) for t in rng.sample(val_by[i], 3)]
        others = [i for i in val_by if i not in intents]
        queries += [(rng.choice(val_by[rng.choice(others)]), None) for _ in range(4)]
        queries += [(t, None) for t in rng.sample(oos, 2)] if oos else []
        texts = [q for q, _ in queries]
        scores = classifier.scores_many(texts)
        views = embedding.embed([split_email(t)[0] for t in texts]) @ classifier.load_embedding_view().T
        out.extend((s, v, truth) for s, v, (_, truth) in zip(scores, views, queries, strict=True))
    return out


def main(datasets: Path) -> int:
    rows = episodes(load_banking77(datasets / "banking77")) + episodes(load_clinc150(datasets / "clinc150"))
    x = np.vstack([reading_features(s, v) for s, v, _ in rows])
    y = np.concatenate([np.arange(len(s)) == (-1 if t is None else t) for s, _, t in rows])
    model = LogisticRegression(C=10, max_iter=1000).fit(x, y)
    weights = (model.intercept_[0], *model.coef_[0])
    print(f"{len(rows)} queries; TWO_READINGS_WEIGHTS = ({', '.join(f'{w:.3f}' for w in weights)})")
    combined = [1 / (1 + np.exp(-(weights[0] + reading_features(s, v) @ np.asarray(weights[1:])))) for s, v, _ in rows]
    confident = [(c[int(s.argmax())], int(s.argmax()) == t) for (s, _, t), c in zip(rows, combined, strict=True)
                 if s.max() >= DEFAULT_SEND_CONFIDENCE]
    right = sum(ok for _, ok in confident)
    print(f"confident n-gram predictions (>= {DEFAULT_SEND_CONFIDENCE}): {len(confident)}, {len(confident) - right} wrong")
    print("combined below | flagged right | flagged wrong | share wrong")
    for threshold in CANDIDATES:
        flagged = [ok for c, ok in confident if c < threshold]
        wrong = flagged.count(False)
        print(f"{threshold:.2f} | {len(flagged) - wrong} ({(len(flagged) - wrong) / right:.1%}) | "
              f"{wrong} ({wrong / (len(confident) - right):.1%}) | {wrong / max(len(flagged), 1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/datasets")))
