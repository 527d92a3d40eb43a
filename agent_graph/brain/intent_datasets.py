"""Public intent datasets: loaders, and the offline calibration of the confidence.

Formats (see shared/datasets/*/README.md): JSON Lines, optionally gzip, one object per line with
at least ``text``, ``intent`` and ``split``; CLINC150 marks out-of-scope queries ``"intent": "oos"``.
The measurement itself is ``case-agent eval-intents`` (agent_graph/intent_eval.py).

Usage::

    python -m agent_graph.brain.intent_datasets calibrate PATH/clinc150 --model svm --c 2  # -> CALIBRATION

PATH may be a folder (the ``*.jsonl.gz`` in it is read) or the file itself.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from agent_graph.brain.intent import IntentClassifier, IntentSettings

OOS = "oos"

Example = tuple[str, str]  # (text, intent)
Splits = dict[str, list[Example]]


# --- loaders -------------------------------------------------------------------------------------

def _data_file(path: str | Path, stem: str) -> Path:
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob(f"{stem}*.jsonl.gz")) + sorted(path.glob(f"{stem}*.jsonl"))
        candidates = candidates or sorted(path.glob("*.jsonl.gz")) + sorted(path.glob("*.jsonl"))
        if not candidates:
            raise FileNotFoundError(f"no {stem}*.jsonl(.gz) in {path}")
        return candidates[0]
    return path


def _rows(file: Path) -> Iterable[dict]:
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_clinc150(path: str | Path) -> Splits:
    """``{"train"|"val"|"test": [(text, intent), ...]}``; out-of-scope rows have intent ``"oos"``."""
    splits: Splits = defaultdict(list)
    for row in _rows(_data_file(path, "clinc150")):
        splits[row["split"]].append((row["text"], row["intent"]))
    return dict(splits)


def load_banking77(path: str | Path) -> Splits:
    """``{"train"|"val"|"test": [(text, intent), ...]}`` (val: 10 % of the source's train)."""
    splits: Splits = defaultdict(list)
    for row in _rows(_data_file(path, "banking77")):
        splits[row["split"]].append((row["text"], row["intent"]))
    return dict(splits)


def by_intent(examples: Iterable[Example], *, skip: str | None = OOS) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, intent in examples:
        if intent != skip:
            grouped[intent].append(text)
    return dict(sorted(grouped.items()))


def few_shot(examples: Sequence[Example], shots: int, *, seed: int = 0, skip: str | None = OOS) -> list[Example]:
    """``shots`` examples per intent, drawn reproducibly."""
    rng = random.Random(seed)
    out: list[Example] = []
    for intent, texts in by_intent(examples, skip=skip).items():
        out.extend((t, intent) for t in rng.sample(texts, min(shots, len(texts))))
    return out


# --- offline calibration of the confidence -------------------------------------------------------

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
    feats, labels = [], []
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
              log=print) -> tuple[float, ...]:
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
    parser.add_argument("command", choices=["calibrate"])
    parser.add_argument("path")
    parser.add_argument("--c", type=float, nargs="*", default=[], help="C of the model (the first value)")
    parser.add_argument("--model", choices=["svm", "lr"], nargs="*", default=["svm"], help="model kind (the first)")
    parser.add_argument("--embedding", type=float, default=IntentSettings().embedding,
                        help="weight of the sentence embedding against the n-grams (0: n-grams only)")
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args(argv)

    settings = replace(IntentSettings(), model=args.model[0], c=args.c[0] if args.c else IntentSettings().c,
                       embedding=args.embedding)
    weights = calibrate(load_clinc150(args.path), episodes=args.episodes, settings=settings)
    print(f"CALIBRATION = {weights}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

