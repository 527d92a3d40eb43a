"""The offline calibration of the intent classifier's confidence (``brain.intent.CALIBRATION``).

Few-shot episodes from CLINC150 train (examples) and validation (queries); see the module doc of
agent_graph/brain/intent.py for what the weights mean. Usage::

    python -m agent_graph.intent_eval.calibration PATH/clinc150 --model svm --c 2 --embedding 1  # -> CALIBRATION
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from agent_graph.brain.intent import IntentClassifier, IntentSettings
from agent_graph.intent_eval.datasets import OOS, Splits, by_intent, load_clinc150


def calibration_data(splits: Splits, *, episodes: int = 300, seed: int = 0,
                     settings: IntentSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Few-shot episodes from CLINC150 train (shots) and val (queries): features of each query's
    top intent, and whether it was right (1) or the query belongs to no intent of the episode (0)."""
    settings = settings or IntentSettings()
    rng = random.Random(seed)
    train = by_intent(splits["train"])
    val = by_intent(splits["val"])
    oos_val = [t for t, i in splits["val"] if i == OOS]
    names = sorted(train)
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for _ in range(episodes):
        chosen = rng.sample(names, rng.randint(5, 15))
        shots = {n: rng.sample(train[n], rng.randint(2, 6)) + [n.replace("_", " ")] for n in chosen}
        clf = IntentClassifier.fit(shots, threshold=0.5, settings=settings)
        queries: list[tuple[str, int]] = []
        for n in chosen:
            queries.extend((q, clf.intents.index(n)) for q in rng.sample(val[n], 3))
        others = [n for n in names if n not in chosen]
        n_neg = len(queries)
        queries.extend((rng.choice(val[rng.choice(others)]), -1) for _ in range(n_neg // 2))
        queries.extend((q, -1) for q in rng.sample(oos_val, n_neg - n_neg // 2))
        f = clf.features([q for q, _ in queries])  # (q, intents, 4)
        probs = f[:, :, 0]
        top = probs.argmax(axis=1)
        feats.append(f[np.arange(len(queries)), top])
        labels.append(np.asarray([int(g == t) for (_, g), t in zip(queries, top, strict=True)]))
    return np.vstack(feats), np.concatenate(labels)


def calibrate(splits: Splits, *, episodes: int = 300, seed: int = 0, settings: IntentSettings | None = None,
              log: Callable[[str], None] = print) -> tuple[float, ...]:
    """Weights of the confidence (see ``intent.CALIBRATION``) for ``settings``; checked on other episodes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    settings = settings or IntentSettings()
    x, y = calibration_data(splits, episodes=episodes, seed=seed, settings=settings)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    weights = (float(model.intercept_[0]), *map(float, model.coef_[0]))
    p = model.predict_proba(x)[:, 1]
    log(f"  fit: {len(y)} queries, {y.mean():.2f} positive; accuracy at 0.5: {((p >= 0.5) == y).mean():.3f}")
    weights = tuple(round(w, 3) for w in weights)
    x2, y2 = calibration_data(splits, episodes=max(episodes // 3, 1), seed=seed + 1,
                              settings=replace(settings, calibration=weights))
    p2 = model.predict_proba(x2)[:, 1]
    log(f"  held-out episodes: {len(y2)} queries, accuracy at 0.5: {((p2 >= 0.5) == y2).mean():.3f}, "
        f"AUC {roc_auc_score(y2, p2):.3f}")
    return weights


# --- command line ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="CLINC150's folder (or its .jsonl.gz file)")
    parser.add_argument("--model", choices=["svm", "lr"], default=IntentSettings().model, help="model kind")
    parser.add_argument("--c", type=float, default=IntentSettings().c, help="C of the model")
    parser.add_argument("--embedding", type=float, default=IntentSettings().embedding,
                        help="weight of the sentence embedding against the n-grams (0: n-grams only)")
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args(argv)

    settings = replace(IntentSettings(), model=args.model, c=args.c,
                       embedding=args.embedding)
    weights = calibrate(load_clinc150(args.path), episodes=args.episodes, settings=settings)
    print(f"CALIBRATION = {weights}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
