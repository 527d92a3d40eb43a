"""An ``eval-intents`` run (:func:`run_intent_eval`): catalogs from train, choices on validation,
figures on test (see the package doc); its report and the table printed from it."""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from agent_graph.brain.intent import IntentClassifier
from agent_graph.intent_eval.choices import IntentDataset
from agent_graph.intent_eval.datasets import OOS, load_tasks, sample_shots
from agent_graph.intent_eval.scoring import OOS_INTENT_ID, Figure, Fitted, concat, figures, figures_line
from agent_graph.intent_eval.selection import (
    GRID_MODELS,
    IN_SCOPE_LOSS,
    Candidate,
    Log,
    TriedCandidate,
    choose_threshold,
    default_grid,
    fit_task,
    select,
)
from agent_graph.memory import peak_rss_mb

LATENCY_SAMPLE = 1000


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
    settings: dict[str, object]
    selected_by: str
    validation: dict[str, Figure] = Field(description="figures of the chosen settings on the validation split")
    candidates: list[TriedCandidate] = Field(description="every settings candidate tried, with its validation figures")
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


def run_intent_eval(dataset: IntentDataset | str, data: Path, shots: int | None = None, seed: int = 0, *,
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
    name = IntentDataset(dataset)
    log(f"loading {name} from {data}")
    tasks = load_tasks(name, Path(data))
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
    val_scored = concat([f.score(f.task.val) for f in chosen.fitted]) if has_oos else None
    if refit:
        log("fitting the chosen setting again on train + validation")
        chosen.fitted = [fit_task(f.task, chosen.candidate, train[f.task.name] + f.task.val) for f in chosen.fitted]

    log("scoring the test split")
    per_task = [(f, f.score(f.task.test)) for f in chosen.fitted]
    test = concat([s for _, s in per_task])
    final = figures(test, chosen.threshold)
    log(f"  test: {figures_line(final, chosen.threshold)}")

    points: list[OperatingPoint] = []
    if val_scored is not None:
        rules = [(f"val: in-scope within {100 * IN_SCOPE_LOSS:g} pt of top-1 (reported)", chosen.threshold),
                 ("val: in-scope within 1 pt of top-1", choose_threshold(val_scored, max_in_scope_loss=0.01)),
                 ("val: max in-scope accuracy + oos recall", choose_threshold(val_scored, max_in_scope_loss=None)),
                 ("catalog default 0.5", 0.5)]
        for rule, t in rules:
            at = figures(test, t)
            points.append(OperatingPoint(rule=rule, threshold=t, in_scope_accuracy=round(at.in_scope_accuracy, 4),
                                         oos_recall=_r(at.oos_recall), oos_precision=_r(at.oos_precision)))

    per_domain: dict[str, DomainFigures] | None = None
    if len(per_task) > 1:
        per_domain = {}
        for fitted, scored in per_task:
            d = figures(scored, chosen.threshold)
            per_domain[fitted.task.name] = DomainFigures(
                n_train=len(train[fitted.task.name]), n_test=len(fitted.task.test),
                n_intents=len([i for i in fitted.classifier.intents if i != OOS_INTENT_ID]),
                in_scope_accuracy=round(d.in_scope_accuracy, 4), macro_f1=round(d.macro_f1, 4))

    for fitted in chosen.fitted:
        fitted.classifier.threshold = chosen.threshold
    log("timing single predictions")
    times, cpu_times = time_predictions(chosen.fitted, seed=seed)
    report = IntentEvalReport(
        dataset=name.value, data=str(data), shots=shots, seed=seed,
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
        validation=chosen.val.rounded(),
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


def _settings_text(settings: Mapping[str, object]) -> str:
    text = f"{settings.get('model')} C={settings.get('c')}"
    if settings.get("embedding"):
        text += f", sentence embedding weight {settings['embedding']:g}"
    if not settings.get("segment_emails", True):
        text += ", whole texts (no segmentation)"
    if settings.get("oos_intent"):
        weights = settings.get("class_weights") or ()
        text += ", out-of-scope intent" + "".join(f" (weight {w:g})" for _, w in weights)  # type: ignore[attr-defined]
    return text
