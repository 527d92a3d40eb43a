"""Public intent datasets: loaders, evaluation and the offline calibration of the confidence.

Formats (see shared/datasets/*/README.md): JSON Lines, optionally gzip, one object per line with
at least ``text``, ``intent`` and ``split``; CLINC150 marks out-of-scope queries ``"intent": "oos"``,
BANKING77 also has ``official_split`` (train/test of the source; our ``split`` moves 10% of the
official train to ``val``).

Usage (train on train, choose settings on val, report on test)::

    python -m agent_graph.brain.intent_datasets clinc150 PATH/clinc150 --c 1 2 3
    python -m agent_graph.brain.intent_datasets banking77 PATH/banking77 --model svm lr --c 1 2 3 30
    python -m agent_graph.brain.intent_datasets banking77 PATH/banking77 --shots 10 --model svm lr --c 3 30
    python -m agent_graph.brain.intent_datasets calibrate PATH/clinc150 --model svm --c 2  # -> CALIBRATION

PATH may be a folder (the ``*.jsonl.gz`` in it is read) or the file itself. Settings (model kind
and C) are chosen on val by in-scope accuracy + oos recall; test is reported at thresholds chosen
on val (balanced; in-scope within 0.5 / 1 point of top-1) and at the catalog default 0.5.
Few-shot runs average over ``--seeds`` samples of the training examples.

Measured (2 CPU cores):
CLINC150 (oos-train + threshold, svm C=3): test top-1 92.7; at the val "0.5 pt" threshold in-scope
92.3 / oos recall 49.7, at "1 pt" 91.9 / 61.5; median predict 1.3 ms. BANKING77 full: 91.2 (our
train), 91.5 (official train). BANKING77 10-shot: 75.6 mean of 3 samples (73.6, 76.7, 76.4).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    """``train``/``val``/``test`` (ours) plus ``official_train`` (= train + val, the source's train)."""
    splits: Splits = defaultdict(list)
    for row in _rows(_data_file(path, "banking77")):
        splits[row["split"]].append((row["text"], row["intent"]))
        if row.get("official_split") == "train":
            splits["official_train"].append((row["text"], row["intent"]))
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


# --- evaluation ----------------------------------------------------------------------------------

@dataclass
class Report:
    in_scope_accuracy: float          # right intent on in-scope rows (counting a rejection as wrong)
    in_scope_top1: float              # right top-ranked intent on in-scope rows, ignoring the threshold
    oos_recall: float | None          # oos rows rejected (None without oos rows)
    n_in_scope: int
    n_oos: int
    threshold: float

    def line(self) -> str:
        oos = "-" if self.oos_recall is None else f"{100 * self.oos_recall:.1f}"
        return (f"threshold {self.threshold:.2f}: in-scope acc {100 * self.in_scope_accuracy:.1f} "
                f"(top-1 {100 * self.in_scope_top1:.1f}, n={self.n_in_scope}), oos recall {oos} (n={self.n_oos})")


def score_matrix(classifier: IntentClassifier, examples: Sequence[Example]) -> np.ndarray:
    return classifier.scores_many([t for t, _ in examples])


def report(classifier: IntentClassifier, examples: Sequence[Example], scores: np.ndarray,
           threshold: float) -> Report:
    index = {intent: i for i, intent in enumerate(classifier.intents)}
    top = scores.argmax(axis=1)
    best = scores.max(axis=1)
    gold = np.asarray([index.get(intent, -1) for _, intent in examples])
    is_oos = np.asarray([intent == OOS for _, intent in examples])
    ins = ~is_oos
    accepted = best >= threshold
    n_in, n_oos = int(ins.sum()), int(is_oos.sum())
    return Report(
        in_scope_accuracy=float(((top == gold) & accepted)[ins].mean()) if n_in else 0.0,
        in_scope_top1=float((top == gold)[ins].mean()) if n_in else 0.0,
        oos_recall=float((~accepted)[is_oos].mean()) if n_oos else None,
        n_in_scope=n_in, n_oos=n_oos, threshold=threshold,
    )


def best_threshold(classifier: IntentClassifier, examples: Sequence[Example], scores: np.ndarray,
                   *, max_in_scope_loss: float | None = None) -> float:
    """A threshold chosen on validation data.

    By default the one maximising in-scope accuracy + oos recall (both weigh the same); with
    ``max_in_scope_loss``, the highest one whose in-scope accuracy stays within that many points
    (a fraction, 0.01 = 1 point) of the top-1 accuracy, i.e. as much oos recall as that loss buys.
    """
    candidates = np.round(np.arange(0.02, 0.99, 0.01), 2)
    best, best_value = 0.5, -1.0
    for t in candidates:
        r = report(classifier, examples, scores, float(t))
        if max_in_scope_loss is not None:
            if r.in_scope_top1 - r.in_scope_accuracy <= max_in_scope_loss + 1e-9:
                best = float(t)
            continue
        value = r.in_scope_accuracy + (r.oos_recall if r.oos_recall is not None else 0.0)
        if value > best_value + 1e-9:
            best, best_value = float(t), value
    return best


def latency_ms(classifier: IntentClassifier, texts: Sequence[str], n: int = 300) -> float:
    """Median wall time of one ``predict`` call, in milliseconds."""
    times = []
    for text in list(texts)[:n]:
        start = time.perf_counter()
        classifier.predict(text)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def evaluate(train: Sequence[Example], val: Sequence[Example], test: Sequence[Example], *,
             settings_grid: Sequence[IntentSettings] = (IntentSettings(),), use_oos_train: bool = True,
             log=print) -> dict:
    """Fit on train for each settings, pick settings + threshold on val, report val and test."""
    training = by_intent(train)
    negatives = [t for t, i in train if i == OOS] if use_oos_train else []
    chosen = None
    for settings in settings_grid:
        start = time.perf_counter()
        clf = IntentClassifier.fit(training, threshold=0.5, negatives=negatives, settings=settings)
        fit_s = time.perf_counter() - start
        val_scores = score_matrix(clf, val)
        t = best_threshold(clf, val, val_scores)
        r = report(clf, val, val_scores, t)
        value = r.in_scope_accuracy + (r.oos_recall or 0.0)
        log(f"  val  {settings_label(settings)} fit {fit_s:.1f}s  {r.line()}")
        if chosen is None or value > chosen[0] + 1e-9:
            chosen = (value, settings, clf, t)
    assert chosen is not None
    _, settings, clf, t = chosen
    val_scores = score_matrix(clf, val)
    test_scores = score_matrix(clf, test)
    reports = {
        "val-balanced": report(clf, test, test_scores, t),
        "val-in-scope-0.5pt": report(clf, test, test_scores,
                                     best_threshold(clf, val, val_scores, max_in_scope_loss=0.005)),
        "val-in-scope-1pt": report(clf, test, test_scores,
                                   best_threshold(clf, val, val_scores, max_in_scope_loss=0.01)),
        "default-0.5": report(clf, test, test_scores, 0.5),
    }
    ms = latency_ms(clf, [text for text, _ in test])
    for name, r in reports.items():
        log(f"  test {settings_label(settings)} [{name}] {r.line()}")
    log(f"  median predict {ms:.2f} ms (one sentence, single call)")
    return {"settings": settings, "threshold": t, "reports": reports, "latency_ms": ms, "classifier": clf}


def settings_label(s: IntentSettings) -> str:
    return f"{s.model} C={s.c:g}"


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

def _grid(cs: Sequence[float], models: Sequence[str]) -> list[IntentSettings]:
    default_c = {"svm": IntentSettings().c, "lr": 30.0}
    return [replace(IntentSettings(), c=c, model=m) for m in models for c in (cs or [default_c[m]])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["clinc150", "banking77", "calibrate"])
    parser.add_argument("path")
    parser.add_argument("--shots", type=int, default=0, help="examples per intent from train (0 = all)")
    parser.add_argument("--c", type=float, nargs="*", default=[], help="values of C to choose from on val")
    parser.add_argument("--model", choices=["svm", "lr"], nargs="*", default=["svm"],
                        help="model kinds to choose from on val (calibrate: the first)")
    parser.add_argument("--embedding", type=float, default=IntentSettings().embedding,
                        help="weight of the sentence embedding against the n-grams (0: n-grams only)")
    parser.add_argument("--seeds", type=int, default=3, help="few-shot samples to average over")
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args(argv)

    if args.dataset == "calibrate":
        settings = replace(IntentSettings(), model=args.model[0], c=args.c[0] if args.c else IntentSettings().c,
                           embedding=args.embedding)
        weights = calibrate(load_clinc150(args.path), episodes=args.episodes, settings=settings)
        print(f"CALIBRATION = {weights}")
        return 0
    if args.dataset == "clinc150":
        splits = load_clinc150(args.path)
        train, val, test = splits["train"], splits["val"], splits["test"]
    else:
        splits = load_banking77(args.path)
        train, val, test = splits["train"], splits["val"], splits["test"]
    if args.shots:
        tops = []
        for seed in range(args.seeds):
            sample = few_shot(train, args.shots, seed=seed) + [e for e in train if e[1] == OOS]
            print(f"{args.dataset} {args.shots}-shot, seed {seed}: train {len(sample)}, val {len(val)}, "
                  f"test {len(test)}")
            result = evaluate(sample, val, test, settings_grid=_grid(args.c, args.model))
            tops.append(result["reports"]["val-balanced"].in_scope_top1)
        print(f"  mean test top-1 over {len(tops)} samples: {100 * statistics.mean(tops):.1f} "
              f"({', '.join(f'{100 * t:.1f}' for t in tops)})")
        return 0
    print(f"{args.dataset}: train {len(train)}, val {len(val)}, test {len(test)}")
    result = evaluate(train, val, test, settings_grid=_grid(args.c, args.model))
    if args.dataset == "banking77":
        # the published numbers train on the official train split (= our train + val)
        official = by_intent(splits["official_train"])
        clf = IntentClassifier.fit(official, threshold=0.0, settings=result["settings"])
        r = report(clf, test, score_matrix(clf, test), 0.0)
        print(f"  test, fit on official train ({len(splits['official_train'])}): top-1 {100 * r.in_scope_top1:.1f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

