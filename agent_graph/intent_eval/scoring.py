"""A catalog from a dataset's training rows, its classifier fitted and scored, and the figures."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from agent_graph.brain.intent import IntentClassifier
from agent_graph.catalog import Catalog, Intent, LineOfBusiness
from agent_graph.intent_eval.datasets import OOS, Example, Task, by_intent

OOS_INTENT_ID = "out_of_scope"  # the catalog intent made of CLINC150's out-of-scope training sentences

Figure = float | int | None  # a fraction, a count, or none (out-of-scope figures without such rows)


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
    """A candidate's classifier fitted on one task's training rows (``selection.fit_task``)."""

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


def concat(parts: Sequence[Scored]) -> Scored:
    return Scored(gold=[g for p in parts for g in p.gold], top=[t for p in parts for t in p.top],
                  confidence=np.concatenate([p.confidence for p in parts]),
                  oos_top=np.concatenate([p.oos_top for p in parts]))


@dataclass
class Figures:
    """The figures of some scored rows at a threshold (definitions in the package doc)."""

    in_scope_accuracy: float
    in_scope_top1: float
    oos_recall: float | None
    oos_precision: float | None
    macro_f1: float
    n: int

    def rounded(self) -> dict[str, Figure]:
        """The figures by name, fractions rounded to 4 places (as reports give them)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


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


def figures_line(f: Figures, threshold: float) -> str:
    oos = "" if f.oos_recall is None else f", oos recall {100 * f.oos_recall:.1f}, precision {100 * (f.oos_precision or 0):.1f}"
    return (f"threshold {threshold:.2f}: in-scope {100 * f.in_scope_accuracy:.2f} (top-1 {100 * f.in_scope_top1:.2f})"
            f"{oos}, macro-F1 {100 * f.macro_f1:.2f}, n={f.n}")
