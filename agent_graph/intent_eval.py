"""``case-agent eval-intents``: the offline intent classifier measured on public intent datasets.

The method (docs/intent-eval.md has the figures and the commands):

1. **Catalog from the training split.** Each intent's training sentences become the ``examples``
   of one :class:`~agent_graph.catalog.Intent` (its ``name`` is the label in words) in a
   :class:`~agent_graph.catalog.Catalog` held in memory, and the classifier is
   :meth:`IntentClassifier.from_catalog` - the code path the agent uses on a real catalog. With
   ``shots``, ``shots`` training sentences per intent are kept (seeded sample).
2. **Choices on the validation split only.** For every candidate of the settings grid
   (:func:`default_grid`: linear SVM C 2 or logistic regression C 30; the sentence embedding at
   weight 0, 1 or 2 beside the n-grams; long texts segmented as emails or scored whole; for
   CLINC150, with or without an out-of-scope intent), the classifier
   is fitted on train and scored on validation; the threshold is chosen there by a rule fixed in
   advance (:func:`choose_threshold`), and the candidate with the best validation macro-F1 at its
   threshold wins. The test split is not read by any of this: :func:`select` gets the training
   rows and the validation rows only.
3. **Report on the test split** at the chosen settings and threshold: in-scope accuracy, out-of-scope
   recall and precision (CLINC150's ``oos``), macro-F1, training time, median and p99 time of one
   ``predict`` call, and peak memory. With ``refit``, the chosen setting is first fitted again on
   train + validation (nothing is chosen again).

Datasets (``shared/datasets/*/README.md``):

* ``clinc150``: its train/val/test splits; out-of-scope rows are ``"intent": "oos"``. The 100
  out-of-scope training sentences either go unused or become one more catalog intent,
  ``out_of_scope`` (a prediction of it is a rejection) - which of the two is a setting chosen on
  validation. ``--shots`` samples the 150 intents; the out-of-scope sentences are kept whole.
* ``banking77``: the README's train/val/test (val = 10 % of the official train, test = the
  official test). No out-of-scope class: the threshold is 0 (a rejection could only be wrong).
* ``dstc11``: no train split in the source. :func:`load_dstc11` splits each domain's rows per
  intent, seeded (:data:`DSTC11_SPLIT_SEED`, independent of ``--seed``) and stratified: 60 % train,
  20 % val, 20 % test (rounded, at least one row in each of val and test). The three domains are
  three separate inventories, so each becomes its own one-LOB catalog and classifier; settings are
  chosen on the pooled validation rows of the three, figures are pooled over the three test sets
  (and given per domain), training time is the sum of the three.

Definitions: a test row is *predicted* as its top-ranked intent when the confidence reaches the
threshold (and the top intent is not ``out_of_scope``), else as out-of-scope. ``in_scope_accuracy``
is the fraction of in-scope rows predicted as their intent (a rejection counts as wrong);
``oos_recall`` the fraction of out-of-scope rows rejected; ``oos_precision`` the fraction of
rejections that are out-of-scope rows; ``macro_f1`` the unweighted mean F1 over the gold classes
(out-of-scope included as one class). Times are wall-clock milliseconds of one
``IntentClassifier.predict`` call on one test sentence (a seeded sample of up to
:data:`LATENCY_SAMPLE` sentences, after a warm-up), and the median CPU time of the calling thread
in such a call (on a busy machine the wall-clock time also counts the waits for a core). ``peak_memory_mb`` is how much the process's
peak resident set size (``getrusage`` ``ru_maxrss``) grew during the run - loading the data,
fitting every candidate, scoring; ``peak_rss_mb`` is that peak itself; ``classifier_mb`` the
approximate size of the chosen fitted classifier (its arrays and vocabularies).
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from agent_graph.brain.intent import IntentClassifier, IntentSettings
from agent_graph.brain.intent_datasets import (
    OOS,
    Example,
    Splits,
    _data_file,
    _rows,
    by_intent,
    few_shot,
    load_banking77,
    load_clinc150,
)
from agent_graph.catalog import Catalog, Intent, LineOfBusiness
from agent_graph.intent_eval_choices import IntentDataset, ModelKind
from agent_graph.memory import peak_rss_mb

DatasetName = Literal["clinc150", "banking77", "dstc11"]


OOS_INTENT_ID = "out_of_scope"  # the catalog intent made of CLINC150's out-of-scope training sentences
DSTC11_SPLIT_SEED = 0
DSTC11_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test per (domain, intent)
LATENCY_SAMPLE = 1000
EMBEDDING_WEIGHTS = (0.0, 1.0, 2.0)  # the grid's weights of the sentence embedding (0: n-grams only)
IN_SCOPE_LOSS = 0.005  # the threshold rule: give up at most this much validation in-scope accuracy
# the out_of_scope intent's class weight against one intent's: chosen on CLINC150 validation (SVM C=2, embedding 1),
# by macro-F1 at the threshold rule, among 1 (93.54), 3 (93.59), 10 and 30 (93.56)
OOS_INTENT_WEIGHT = 3.0

Log = Callable[[str], None]


# --- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One point of the settings grid: classifier settings and the use of out-of-scope training rows."""

    settings: IntentSettings
    oos_intent: bool = False  # CLINC150: the out-of-scope training sentences as an ``out_of_scope`` intent

    def label(self) -> str:
        s = self.settings
        text = f"{s.model} C={s.c:g}" + (f" embedding {s.embedding:g}" if s.embedding else "")
        text += "" if s.segment_emails else " whole texts"
        if self.oos_intent:
            text += " +oos intent" + "".join(f" (weight {w:g})" for _, w in s.class_weights)
        return text

    def as_dict(self) -> dict:
        return {"oos_intent": self.oos_intent, **asdict(self.settings)}


GRID_MODELS = {ModelKind.SVM: 2.0, ModelKind.LR: 30.0}  # the grid's C per model kind


def default_grid(has_oos: bool, models: Sequence[str] = tuple(GRID_MODELS)) -> list[Candidate]:
    """The candidates chosen from on validation: linear SVM (C 2) or logistic regression (C 30);
    the sentence embedding's weight against the n-grams (:data:`EMBEDDING_WEIGHTS`); with or
    without the email segmentation of long texts; and (CLINC150) with or without the
    ``out_of_scope`` intent. ``models`` restricts the model kinds (a full CLINC150 run with logistic
    regression takes long)."""
    settings = [replace(IntentSettings(), model=kind, c=GRID_MODELS[ModelKind(kind)], embedding=w, segment_emails=seg)
                for kind in models for w in EMBEDDING_WEIGHTS for seg in (True, False)]
    if not has_oos:
        return [Candidate(s) for s in settings]
    oos_weight = ((OOS_INTENT_ID, OOS_INTENT_WEIGHT),)
    return [Candidate(replace(s, class_weights=oos_weight) if o else s, oos_intent=o)
            for s in settings for o in (False, True)]


# --- data -----------------------------------------------------------------------------------------

@dataclass
class Task:
    """One catalog's worth of data: its train, validation and test rows."""

    name: str
    train: list[Example]
    val: list[Example]
    test: list[Example]


def load_dstc11(path: str | Path, *, seed: int = DSTC11_SPLIT_SEED,
                fractions: tuple[float, float, float] = DSTC11_FRACTIONS) -> dict[str, Splits]:
    """Domain -> ``{"train"|"val"|"test": [(text, intent), ...]}``, split per intent (see module doc).

    Rows of an intent are shuffled with a generator seeded by ``seed``, the domain and the intent,
    then cut: ``round(val * n)`` (at least 1) to val, as many to test by ``test``, the rest to train.
    """
    rows: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in _rows(_data_file(path, "dstc11")):
        rows[row["domain"]][row["intent"]].append(row["text"])
    out: dict[str, Splits] = {}
    for domain in sorted(rows):
        splits: Splits = {"train": [], "val": [], "test": []}
        for intent in sorted(rows[domain]):
            texts = list(rows[domain][intent])
            random.Random(f"{seed}:{domain}:{intent}").shuffle(texts)
            n = len(texts)
            n_val = max(1, round(fractions[1] * n))
            n_test = max(1, round(fractions[2] * n))
            if n - n_val - n_test < 1:
                raise ValueError(f"dstc11 {domain}/{intent}: {n} rows are too few to split")
            splits["val"].extend((t, intent) for t in texts[:n_val])
            splits["test"].extend((t, intent) for t in texts[n_val:n_val + n_test])
            splits["train"].extend((t, intent) for t in texts[n_val + n_test:])
        out[domain] = splits
    return out


def load_tasks(dataset: DatasetName, data: Path) -> list[Task]:
    if dataset == "clinc150":
        s = load_clinc150(data)
        return [Task("clinc150", s["train"], s["val"], s["test"])]
    if dataset == "banking77":
        s = load_banking77(data)
        return [Task("banking77", s["train"], s["val"], s["test"])]
    if dataset == "dstc11":
        return [Task(domain, s["train"], s["val"], s["test"]) for domain, s in load_dstc11(data).items()]
    raise ValueError(f"unknown dataset {dataset!r}; expected clinc150, banking77 or dstc11")


def sample_shots(train: Sequence[Example], shots: int | None, seed: int) -> list[Example]:
    """``shots`` sentences per intent (seeded); out-of-scope rows are kept whole."""
    if not shots:
        return list(train)
    return few_shot(train, shots, seed=seed) + [e for e in train if e[1] == OOS]


# --- the catalog ----------------------------------------------------------------------------------

def intent_id(label: str) -> str:
    """A catalog id for a dataset label: ``Refund_not_showing_up`` -> ``refund_not_showing_up``,
    ``GetQuote`` -> ``get_quote``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", label).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "intent"


def intent_name(label: str) -> str:
    """The label in words, as a catalog author would write the intent's name."""
    words = intent_id(label).replace("_", " ")
    return words[:1].upper() + words[1:]


def build_catalog(train: Sequence[Example], *, name: str = "dataset", oos_intent: bool = False) -> Catalog:
    """A one-LOB catalog whose intents have the training sentences as examples.

    With ``oos_intent``, the out-of-scope rows become the intent :data:`OOS_INTENT_ID`.
    """
    grouped = by_intent(train)
    ids = {label: intent_id(label) for label in grouped}
    if len(set(ids.values())) != len(ids):
        raise ValueError("two labels map to the same catalog id")
    intents = [Intent(id=ids[label], name=intent_name(label), examples=texts) for label, texts in grouped.items()]
    negatives = [t for t, label in train if label == OOS]
    if oos_intent and negatives:
        intents.append(Intent(id=OOS_INTENT_ID, name="Out of scope",
                              description="A request that none of the other intents covers.", examples=negatives))
    lob_id = intent_id(name)
    return Catalog(
        organisation=f"{name} (evaluation)", mailbox="eval@example.invalid",
        lines_of_business=[LineOfBusiness(id=lob_id, name=name, queue=lob_id, intents=intents)],
    )


# --- scoring ----------------------------------------------------------------------------------------

@dataclass
class Scored:
    """A classifier's view of some rows: the gold label, the top in-scope intent and its confidence."""

    gold: list[str]
    top: list[str]          # best intent label, ignoring out_of_scope
    confidence: np.ndarray  # its confidence
    oos_top: np.ndarray     # whether out_of_scope outranks every intent

    def predicted(self, threshold: float) -> list[str]:
        accept = (self.confidence >= threshold) & ~self.oos_top
        return [t if a else OOS for t, a in zip(self.top, accept, strict=True)]


@dataclass
class Fitted:
    task: Task
    classifier: IntentClassifier
    labels: dict[str, str]  # catalog id -> dataset label
    fit_seconds: float

    def score(self, rows: Sequence[Example]) -> Scored:
        clf = self.classifier
        scores = clf.scores_many([t for t, _ in rows]) if rows else np.zeros((0, len(clf.intents)))
        in_scope = [j for j, i in enumerate(clf.intents) if i != OOS_INTENT_ID]
        sub = scores[:, in_scope]
        best = sub.argmax(axis=1) if len(rows) else np.zeros(0, dtype=int)
        confidence = sub.max(axis=1) if len(rows) else np.zeros(0)
        if OOS_INTENT_ID in clf.intents:
            oos_top = scores[:, clf.intents.index(OOS_INTENT_ID)] > confidence
        else:
            oos_top = np.zeros(len(rows), dtype=bool)
        top = [self.labels[clf.intents[in_scope[j]]] for j in best]
        return Scored(gold=[label for _, label in rows], top=top, confidence=confidence, oos_top=oos_top)


def fit_task(task: Task, candidate: Candidate, train: Sequence[Example]) -> Fitted:
    catalog = build_catalog(train, name=task.name, oos_intent=candidate.oos_intent)
    labels = {intent_id(label): label for _, label in train if label != OOS}
    start = time.perf_counter()
    classifier = IntentClassifier.from_catalog(catalog, settings=candidate.settings)
    return Fitted(task, classifier, labels, time.perf_counter() - start)


def _concat(parts: Sequence[Scored]) -> Scored:
    return Scored(gold=[g for p in parts for g in p.gold], top=[t for p in parts for t in p.top],
                  confidence=np.concatenate([p.confidence for p in parts]),
                  oos_top=np.concatenate([p.oos_top for p in parts]))


@dataclass
class Figures:
    in_scope_accuracy: float
    in_scope_top1: float
    oos_recall: float | None
    oos_precision: float | None
    macro_f1: float
    n: int


def figures(scored: Scored, threshold: float) -> Figures:
    from sklearn.metrics import f1_score

    gold = np.asarray(scored.gold, dtype=object)
    pred = np.asarray(scored.predicted(threshold), dtype=object)
    top = np.asarray(scored.top, dtype=object)
    is_oos = gold == OOS
    ins = ~is_oos
    rejected = pred == OOS
    has_oos = bool(is_oos.any())
    return Figures(
        in_scope_accuracy=float((pred == gold)[ins].mean()) if ins.any() else 0.0,
        in_scope_top1=float((top == gold)[ins].mean()) if ins.any() else 0.0,
        oos_recall=float(rejected[is_oos].mean()) if has_oos else None,
        oos_precision=(float(is_oos[rejected].mean()) if rejected.any() else 0.0) if has_oos else None,
        macro_f1=float(f1_score(gold, pred, labels=sorted(set(scored.gold)), average="macro", zero_division=0))
        if len(gold) else 0.0,
        n=len(gold),
    )


# --- choices on validation ------------------------------------------------------------------------

THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)


def choose_threshold(val: Scored, *, max_in_scope_loss: float | None = IN_SCOPE_LOSS) -> float:
    """The confidence threshold, from validation rows only.

    Without out-of-scope rows, 0: nothing should be rejected. Otherwise, by default, the highest
    threshold whose in-scope accuracy stays within ``max_in_scope_loss`` of the top-1 accuracy (as
    much out-of-scope recall as that loss buys); with ``max_in_scope_loss=None``, the threshold
    maximising in-scope accuracy + out-of-scope recall (both weigh the same).
    """
    if OOS not in val.gold:
        return 0.0
    best, best_value = 0.0, -1.0
    for t in THRESHOLDS:
        f = figures(val, float(t))
        if max_in_scope_loss is not None:
            if f.in_scope_top1 - f.in_scope_accuracy <= max_in_scope_loss + 1e-9:
                best = float(t)
            continue
        value = f.in_scope_accuracy + (f.oos_recall or 0.0)
        if value > best_value + 1e-9:
            best, best_value = float(t), value
    return best


def selection_value(f: Figures) -> float:
    """What the settings are chosen by on validation: macro-F1 at the chosen threshold (over the
    intents and, where there is one, the out-of-scope class)."""
    return f.macro_f1


@dataclass
class Selection:
    candidate: Candidate
    threshold: float
    fitted: list[Fitted]
    val: Figures
    tried: list[dict]


def select(tasks: Sequence[Task], train: dict[str, list[Example]], grid: Sequence[Candidate],
           log: Log) -> Selection:
    """Fit every candidate on train, choose threshold and candidate on validation.

    Takes the training rows and the tasks' validation rows; nothing here reads ``task.test``.
    """
    best: Selection | None = None
    best_value = -1.0
    tried = []
    for candidate in grid:
        fitted = []
        for task in tasks:
            log(f"fitting {candidate.label()} on {task.name}: {len(train[task.name])} training sentences")
            fitted.append(fit_task(task, candidate, train[task.name]))
        val = _concat([f.score(f.task.val) for f in fitted])
        threshold = choose_threshold(val)
        figs = figures(val, threshold)
        value = selection_value(figs)
        tried.append({"candidate": candidate.label(), "threshold": threshold, "fit_seconds":
                      round(sum(f.fit_seconds for f in fitted), 3), **_rounded(asdict(figs))})
        log(f"  validation: {_line(figs, threshold)}")
        if best is None or value > best_value + 1e-9:
            best, best_value = Selection(candidate, threshold, fitted, figs, tried), value
    assert best is not None
    best.tried = tried
    return best


# --- the report -------------------------------------------------------------------------------------

class OperatingPoint(BaseModel):
    rule: str
    threshold: float
    in_scope_accuracy: float
    oos_recall: float | None
    oos_precision: float | None


class DomainFigures(BaseModel):
    n_train: int
    n_test: int
    n_intents: int
    in_scope_accuracy: float
    macro_f1: float


class IntentEvalReport(BaseModel):
    """Figures of one ``eval-intents`` run; fractions in [0, 1], times in milliseconds or seconds."""

    dataset: str
    data: str
    shots: int | None
    seed: int
    n_intents: int
    n_train: int
    n_val: int
    n_test: int
    in_scope_accuracy: float = Field(description="in-scope test rows predicted as their intent")
    in_scope_top1: float = Field(description="in-scope test rows whose top-ranked intent is right, ignoring the threshold")
    oos_recall: float | None = Field(description="out-of-scope test rows rejected; null without such rows")
    oos_precision: float | None = Field(description="rejected test rows that are out-of-scope; null without such rows")
    macro_f1: float
    threshold: float
    threshold_rule: str
    settings: dict
    selected_by: str
    validation: dict = Field(description="figures of the chosen settings on the validation split")
    candidates: list[dict] = Field(description="every settings candidate tried, with its validation figures")
    operating_points: list[OperatingPoint] = Field(
        default_factory=list, description="test figures at thresholds chosen on validation by other rules")
    per_domain: dict[str, DomainFigures] | None = None
    refit: bool = Field(False, description="the chosen setting fitted again on train + validation for the test")
    train_seconds: float = Field(description="fitting the chosen classifier(s) (from_catalog)")
    median_predict_ms: float
    p99_predict_ms: float
    median_predict_cpu_ms: float = Field(description="CPU time of the calling thread in one predict call (median)")
    n_timed: int
    peak_memory_mb: float = Field(description="growth of the process's peak RSS (ru_maxrss) during the run")
    peak_rss_mb: float
    classifier_mb: float = Field(description="approximate size of the chosen fitted classifier(s) in memory")
    memory_method: str = "ru_maxrss growth over the run (loading, fitting every candidate, scoring)"
    wall_seconds: float


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def _line(f: Figures, threshold: float) -> str:
    oos = "" if f.oos_recall is None else f", oos recall {100 * f.oos_recall:.1f}, precision {100 * (f.oos_precision or 0):.1f}"
    return (f"threshold {threshold:.2f}: in-scope {100 * f.in_scope_accuracy:.2f} (top-1 {100 * f.in_scope_top1:.2f})"
            f"{oos}, macro-F1 {100 * f.macro_f1:.2f}, n={f.n}")


def classifier_mb(classifier: IntentClassifier) -> float:
    """Approximate memory of a fitted classifier: its weight and similarity arrays and vocabularies."""
    total = 0
    for value in vars(classifier).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif hasattr(value, "indptr"):  # a sparse matrix
            total += value.data.nbytes + value.indices.nbytes + value.indptr.nbytes
    for block in classifier._encoder.ngrams._blocks:
        vocabulary, idf = block[1], block[2]
        total += sys.getsizeof(vocabulary) + sum(sys.getsizeof(k) + 28 for k in vocabulary) + idf.nbytes
    return total / (1024 * 1024)


def _stderr_log(start: float) -> Log:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)
    return log


def time_predictions(fitted: Sequence[Fitted], *, seed: int = 0,
                     n: int = LATENCY_SAMPLE) -> tuple[list[float], list[float]]:
    """Milliseconds of single ``predict`` calls on a seeded sample of test sentences: wall-clock,
    and CPU time of the calling thread (what the call costs, whatever else the machine runs)."""
    pool = [(f.classifier, text) for f in fitted for text, _ in f.task.test]
    rng = random.Random(seed)
    sample = rng.sample(pool, min(n, len(pool)))
    for clf, text in sample[:20]:  # warm-up
        clf.predict(text)
    wall, cpu = [], []
    for clf, text in sample:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        clf.predict(text)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def run_intent_eval(dataset: DatasetName, data: Path, shots: int | None = None, seed: int = 0, *,
                    grid: Sequence[Candidate] | None = None, models: Sequence[str] | None = None,
                    refit: bool = False, log: Log | None = None) -> IntentEvalReport:
    """Build catalogs from train, choose on validation, report on test (see the module doc).

    ``grid`` replaces :func:`default_grid`; ``models`` restricts its model kinds. With ``refit``,
    the chosen setting is fitted again on train + validation (the source's whole training set, as
    published figures use) before the test; the thresholds stay those chosen on validation."""
    start = time.perf_counter()
    rss_start = peak_rss_mb()
    log = log or _stderr_log(start)
    if shots is not None and shots < 1:
        raise ValueError("shots must be at least 1")
    if refit and shots:
        raise ValueError("refit fits on the whole training and validation splits; it does not go with shots")
    dataset = IntentDataset(dataset).value  # type: ignore[assignment]
    log(f"loading {dataset} from {data}")
    tasks = load_tasks(dataset, Path(data))
    train = {t.name: sample_shots(t.train, shots, seed) for t in tasks}
    has_oos = any(label == OOS for t in tasks for _, label in t.val)
    n_train = sum(len(v) for v in train.values())
    log(f"train {n_train}{f' ({shots} per intent, seed {seed})' if shots else ''}, "
        f"val {sum(len(t.val) for t in tasks)}, test {sum(len(t.test) for t in tasks)}")

    if grid is None:
        grid = default_grid(has_oos, models or tuple(GRID_MODELS))
    chosen = select(tasks, train, list(grid), log)
    log(f"chosen on validation: {chosen.candidate.label()}, threshold {chosen.threshold:.2f}")
    # the other threshold rules read validation with the classifiers that were chosen, before a refit learns it
    val_scored = _concat([f.score(f.task.val) for f in chosen.fitted]) if has_oos else None
    if refit:
        log("fitting the chosen setting again on train + validation")
        chosen.fitted = [fit_task(f.task, chosen.candidate, train[f.task.name] + f.task.val) for f in chosen.fitted]

    log("scoring the test split")
    per_task = [(f, f.score(f.task.test)) for f in chosen.fitted]
    test = _concat([s for _, s in per_task])
    final = figures(test, chosen.threshold)
    log(f"  test: {_line(final, chosen.threshold)}")

    points = []
    if val_scored is not None:
        rules = [(f"val: in-scope within {100 * IN_SCOPE_LOSS:g} pt of top-1 (reported)", chosen.threshold),
                 ("val: in-scope within 1 pt of top-1", choose_threshold(val_scored, max_in_scope_loss=0.01)),
                 ("val: max in-scope accuracy + oos recall", choose_threshold(val_scored, max_in_scope_loss=None)),
                 ("catalog default 0.5", 0.5)]
        for rule, t in rules:
            f = figures(test, t)
            points.append(OperatingPoint(rule=rule, threshold=t, in_scope_accuracy=round(f.in_scope_accuracy, 4),
                                         oos_recall=_r(f.oos_recall), oos_precision=_r(f.oos_precision)))

    per_domain = None
    if len(per_task) > 1:
        per_domain = {}
        for f, scored in per_task:
            d = figures(scored, chosen.threshold)
            per_domain[f.task.name] = DomainFigures(
                n_train=len(train[f.task.name]), n_test=len(f.task.test),
                n_intents=len([i for i in f.classifier.intents if i != OOS_INTENT_ID]),
                in_scope_accuracy=round(d.in_scope_accuracy, 4), macro_f1=round(d.macro_f1, 4))

    for f in chosen.fitted:
        f.classifier.threshold = chosen.threshold
    log("timing single predictions")
    times, cpu_times = time_predictions(chosen.fitted, seed=seed)
    report = IntentEvalReport(
        dataset=dataset, data=str(data), shots=shots, seed=seed,
        n_intents=sum(len([i for i in f.classifier.intents if i != OOS_INTENT_ID]) for f in chosen.fitted),
        n_train=n_train, n_val=sum(len(t.val) for t in tasks), n_test=len(test.gold),
        in_scope_accuracy=round(final.in_scope_accuracy, 4), in_scope_top1=round(final.in_scope_top1, 4),
        oos_recall=_r(final.oos_recall), oos_precision=_r(final.oos_precision), macro_f1=round(final.macro_f1, 4),
        threshold=chosen.threshold,
        threshold_rule=(f"highest threshold whose validation in-scope accuracy is within {100 * IN_SCOPE_LOSS:g} "
                        "pt of the validation top-1 accuracy" if has_oos
                        else "0: no out-of-scope class, so nothing is rejected"),
        settings=chosen.candidate.as_dict(),
        selected_by="validation macro-F1 at the chosen threshold",
        refit=refit,
        validation=_rounded(asdict(chosen.val)),
        candidates=chosen.tried,
        operating_points=points,
        per_domain=per_domain,
        train_seconds=round(sum(f.fit_seconds for f in chosen.fitted), 3),
        median_predict_ms=round(statistics.median(times), 4) if times else 0.0,
        p99_predict_ms=round(float(np.percentile(times, 99)), 4) if times else 0.0,
        median_predict_cpu_ms=round(statistics.median(cpu_times), 4) if cpu_times else 0.0,
        n_timed=len(times),
        peak_memory_mb=round(max(peak_rss_mb() - rss_start, 0.0), 1),
        peak_rss_mb=round(peak_rss_mb(), 1),
        classifier_mb=round(sum(classifier_mb(f.classifier) for f in chosen.fitted), 1),
        wall_seconds=round(time.perf_counter() - start, 1),
    )
    log(f"done in {report.wall_seconds:.0f}s")
    return report


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def print_intent_report(console: Console, report: IntentEvalReport) -> None:
    """The figures as rich tables."""
    shots = f"{report.shots} per intent (seed {report.seed})" if report.shots else "all"
    shots += ", refitted on train + validation for the test" if report.refit else ""
    table = Table("figure", "test", "validation",
                  title=f"Intent classifier on {report.dataset} — training sentences: {shots}")
    val = report.validation
    table.add_row("in-scope accuracy", _pct(report.in_scope_accuracy), _pct(val.get("in_scope_accuracy")))
    table.add_row("in-scope top-1 (no threshold)", _pct(report.in_scope_top1), _pct(val.get("in_scope_top1")))
    table.add_row("out-of-scope recall", _pct(report.oos_recall), _pct(val.get("oos_recall")))
    table.add_row("out-of-scope precision", _pct(report.oos_precision), _pct(val.get("oos_precision")))
    table.add_row("macro-F1", _pct(report.macro_f1), _pct(val.get("macro_f1")))
    table.add_row("threshold", f"{report.threshold:.2f}", "chosen here")
    table.add_row("settings", _settings_text(report.settings), "chosen here")
    table.add_row("intents / train / val / test", f"{report.n_intents} / {report.n_train} / {report.n_val} / "
                  f"{report.n_test}", "")
    table.add_row("training time", f"{report.train_seconds:.1f} s", "")
    table.add_row("predict, median / p99", f"{report.median_predict_ms:.2f} / {report.p99_predict_ms:.2f} ms",
                  f"{report.n_timed} single calls")
    table.add_row("predict CPU time, median", f"{report.median_predict_cpu_ms:.2f} ms", "the calling thread's")
    table.add_row("peak memory", f"+{report.peak_memory_mb:.0f} MB (peak RSS {report.peak_rss_mb:.0f} MB)",
                  "whole run, every candidate")
    table.add_row("classifier size", f"≈ {report.classifier_mb:.0f} MB", "the chosen one, in memory")
    table.add_row("wall time", f"{report.wall_seconds:.0f} s", "")
    console.print(table)
    if report.operating_points:
        points = Table("threshold rule", "threshold", "in-scope", "oos recall", "oos precision",
                       title="Test figures at other thresholds chosen on validation")
        for p in report.operating_points:
            points.add_row(p.rule, f"{p.threshold:.2f}", _pct(p.in_scope_accuracy), _pct(p.oos_recall),
                           _pct(p.oos_precision))
        console.print(points)
    if report.per_domain:
        domains = Table("domain", "intents", "train", "test", "accuracy", "macro-F1", title="Per domain (test)")
        for name, d in report.per_domain.items():
            domains.add_row(name, str(d.n_intents), str(d.n_train), str(d.n_test), _pct(d.in_scope_accuracy),
                            _pct(d.macro_f1))
        console.print(domains)


def _settings_text(settings: dict) -> str:
    text = f"{settings.get('model')} C={settings.get('c')}"
    if settings.get("embedding"):
        text += f", sentence embedding weight {settings['embedding']:g}"
    if not settings.get("segment_emails", True):
        text += ", whole texts (no segmentation)"
    if settings.get("oos_intent"):
        text += ", out-of-scope intent" + "".join(f" (weight {w:g})" for _, w in settings.get("class_weights", ()))
    return text


__all__ = [
    "DSTC11_SPLIT_SEED",
    "OOS_INTENT_ID",
    "Candidate",
    "IntentDataset",
    "IntentEvalReport",
    "ModelKind",
    "Scored",
    "Task",
    "build_catalog",
    "choose_threshold",
    "classifier_mb",
    "default_grid",
    "figures",
    "intent_id",
    "load_dstc11",
    "load_tasks",
    "print_intent_report",
    "run_intent_eval",
    "sample_shots",
    "select",
]
