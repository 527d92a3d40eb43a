"""``case-agent eval-replies``: the reply classifier measured on a labelled set of customer replies.

The data file is JSON Lines, one reply per line: ``{"text": ..., "label": "accepts" | "needs_help" |
"other", "split": "dev" | "held"}``. Labels follow docs/behaviour.md §7 (reply classification).
Rules are tuned on the ``dev`` split only; ``held`` is the held-back half, read to report figures.

Per split: accuracy, per-class precision and recall, the confusion matrix (gold → predicted), and
the false acceptances (needs_help → accepts, other → accepts): accepting resolves the case, so a
false acceptance is the costly error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from agent_graph.brain.replies import classify_reply
from agent_graph.brain.types import ReplyKind
from agent_graph.labelled_set import Split, load_rows

DEFAULT_DATA = Path("evals/replies/replies.jsonl")


class LabelledReply(BaseModel):
    """One line of the labelled set."""

    text: str
    label: ReplyKind
    split: Split


class ClassFigures(BaseModel):
    precision: float | None = Field(description="null when the class was never predicted")
    recall: float | None = Field(description="null when the class has no gold rows")
    support: int


class Misread(BaseModel):
    text: str
    label: ReplyKind
    predicted: ReplyKind


class SplitFigures(BaseModel):
    n: int
    accuracy: float
    per_class: dict[ReplyKind, ClassFigures]
    confusion: dict[ReplyKind, dict[ReplyKind, int]] = Field(description="gold label → predicted label → count")
    false_acceptances: int = Field(description="needs_help or other rows predicted as accepts")
    misread: list[Misread]


class ReplyEvalReport(BaseModel):
    data: str
    splits: dict[Split, SplitFigures]


def load_labelled(path: Path) -> list[LabelledReply]:
    """The rows of a labelled set of replies; a malformed line is an error naming it."""
    return load_rows(path, LabelledReply, '{"text", "label": accepts|needs_help|other, "split": dev|held}',
                     "labelled replies")


def score(rows: Sequence[LabelledReply], classify: Callable[[str], ReplyKind] = classify_reply) -> SplitFigures:
    """Figures of ``classify`` on ``rows``."""
    confusion = {gold: dict.fromkeys(ReplyKind, 0) for gold in ReplyKind}
    misread = []
    for row in rows:
        predicted = classify(row.text)
        confusion[row.label][predicted] += 1
        if predicted is not row.label:
            misread.append(Misread(text=row.text, label=row.label, predicted=predicted))
    per_class = {}
    for kind in ReplyKind:
        predicted_as = sum(confusion[gold][kind] for gold in ReplyKind)
        support = sum(confusion[kind].values())
        per_class[kind] = ClassFigures(
            precision=confusion[kind][kind] / predicted_as if predicted_as else None,
            recall=confusion[kind][kind] / support if support else None,
            support=support,
        )
    correct = sum(confusion[kind][kind] for kind in ReplyKind)
    return SplitFigures(
        n=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        per_class=per_class,
        confusion=confusion,
        false_acceptances=sum(confusion[gold][ReplyKind.ACCEPTS] for gold in ReplyKind if gold is not ReplyKind.ACCEPTS),
        misread=misread,
    )


def run_reply_eval(data: Path = DEFAULT_DATA,
                   classify: Callable[[str], ReplyKind] = classify_reply) -> ReplyEvalReport:
    """Score the classifier on each split of the labelled set at ``data``."""
    rows = load_labelled(data)
    splits = {split: score([r for r in rows if r.split is split], classify) for split in Split}
    return ReplyEvalReport(data=str(data), splits={s: f for s, f in splits.items() if f.n})


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def print_reply_report(console: Console, report: ReplyEvalReport, *, show_misread: Split | None = None) -> None:
    """The figures per split, then each split's confusion matrix; misread rows of one split on request."""
    table = Table(title=f"reply classifier on {report.data}")
    for column in ("split", "n", "accuracy", "accepts P / R", "needs_help P / R", "other P / R", "false acceptances"):
        table.add_column(column)
    for split, f in report.splits.items():
        table.add_row(split.value, str(f.n), _pct(f.accuracy),
                      *(f"{_pct(f.per_class[k].precision)} / {_pct(f.per_class[k].recall)}" for k in ReplyKind),
                      str(f.false_acceptances))
    console.print(table)
    for split, f in report.splits.items():
        matrix = Table(title=f"{split.value}: gold (rows) → predicted (columns)")
        matrix.add_column("gold")
        for kind in ReplyKind:
            matrix.add_column(kind.value)
        for gold in ReplyKind:
            matrix.add_row(gold.value, *(str(f.confusion[gold][p]) for p in ReplyKind))
        console.print(matrix)
    if show_misread is not None and show_misread in report.splits:
        for m in report.splits[show_misread].misread:
            console.print(f"{m.label.value:>10} → {m.predicted.value:<10} {m.text!r}", highlight=False)
