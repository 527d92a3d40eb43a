"""The choices of an ``eval-intents`` run, made on the validation split only: the settings grid,
the threshold rule and the selection of a candidate."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from agent_graph.brain.intent import IntentClassifier, IntentSettings
from agent_graph.intent_eval.choices import ModelKind
from agent_graph.intent_eval.datasets import OOS, Example, Task
from agent_graph.intent_eval.scoring import (
    OOS_INTENT_ID,
    Figure,
    Figures,
    Fitted,
    Scored,
    build_catalog,
    concat,
    figures,
    figures_line,
    intent_id,
)

EMBEDDING_WEIGHTS = (0.0, 1.0, 2.0)  # the grid's weights of the sentence embedding (0: n-grams only)
IN_SCOPE_LOSS = 0.005  # the threshold rule: give up at most this much validation in-scope accuracy
# the out_of_scope intent's class weight against one intent's: chosen on CLINC150 validation (SVM C=2, embedding 1),
# by macro-F1 at the threshold rule, among 1 (93.54), 3 (93.59), 10 and 30 (93.56)
OOS_INTENT_WEIGHT = 3.0

Log = Callable[[str], None]
TriedCandidate = dict[str, str | Figure]  # a candidate's label, threshold, fitting time and validation figures


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

    def as_dict(self) -> dict[str, object]:
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


def fit_task(task: Task, candidate: Candidate, train: Sequence[Example]) -> Fitted:
    catalog = build_catalog(train, name=task.name, oos_intent=candidate.oos_intent)
    labels = {intent_id(label): label for _, label in train if label != OOS}
    start = time.perf_counter()
    classifier = IntentClassifier.from_catalog(catalog, settings=candidate.settings)
    return Fitted(task, classifier, labels, time.perf_counter() - start)


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
    tried: list[TriedCandidate]


def select(tasks: Sequence[Task], train: dict[str, list[Example]], grid: Sequence[Candidate],
           log: Log) -> Selection:
    """Fit every candidate on train, choose threshold and candidate on validation.

    Takes the training rows and the tasks' validation rows; nothing here reads ``task.test``.
    """
    best: Selection | None = None
    best_value = -1.0
    tried: list[TriedCandidate] = []
    for candidate in grid:
        fitted: list[Fitted] = []
        for task in tasks:
            log(f"fitting {candidate.label()} on {task.name}: {len(train[task.name])} training sentences")
            fitted.append(fit_task(task, candidate, train[task.name]))
        val = concat([f.score(f.task.val) for f in fitted])
        threshold = choose_threshold(val)
        figs = figures(val, threshold)
        value = selection_value(figs)
        tried.append({"candidate": candidate.label(), "threshold": threshold, "fit_seconds":
                      round(sum(f.fit_seconds for f in fitted), 3), **figs.rounded()})
        log(f"  validation: {figures_line(figs, threshold)}")
        if best is None or value > best_value + 1e-9:
            best, best_value = Selection(candidate, threshold, fitted, figs, tried), value
    assert best is not None
    best.tried = tried
    return best
