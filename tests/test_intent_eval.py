"""``eval-intents`` (agent_graph/intent_eval/) on the dataset slices shipped in tests/fixtures.

The slices are far too small to measure anything; these tests check the path end to end, the
report's keys and ranges, the --shots sample, the DSTC11 split, and that the test split cannot
influence what is chosen.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from agent_graph.brain.intent import IntentSettings
from agent_graph.intent_eval import report as report_module
from agent_graph.intent_eval.choices import IntentDataset
from agent_graph.intent_eval.datasets import (
    OOS,
    Task,
    by_intent,
    load_banking77,
    load_clinc150,
    load_dstc11,
    load_tasks,
    sample_shots,
)
from agent_graph.intent_eval.report import IntentEvalReport, print_intent_report, run_intent_eval
from agent_graph.intent_eval.scoring import OOS_INTENT_ID, Scored, build_catalog, intent_id
from agent_graph.intent_eval.selection import Candidate, choose_threshold, default_grid, select

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLINC = FIXTURES / "clinc150_slice.jsonl.gz"
BANKING = FIXTURES / "banking77_slice.jsonl.gz"
DSTC11 = FIXTURES / "dstc11_slice.jsonl.gz"

FRACTIONS = ("in_scope_accuracy", "in_scope_top1", "macro_f1")
REQUIRED_KEYS = {"in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1", "median_predict_ms",
                 "median_predict_cpu_ms", "p99_predict_ms", "train_seconds", "peak_memory_mb", "dataset", "shots", "seed", "threshold",
                 "settings", "n_train", "n_val", "n_test"}
SMALL_GRID = [Candidate(IntentSettings(c=1.0)), Candidate(IntentSettings(c=1.0), oos_intent=True)]


def _check_ranges(data: dict) -> None:
    assert REQUIRED_KEYS <= set(data)
    for key in FRACTIONS:
        assert 0.0 <= data[key] <= 1.0, key
    for key in ("oos_recall", "oos_precision"):
        assert data[key] is None or 0.0 <= data[key] <= 1.0, key
    assert 0.0 <= data["threshold"] <= 1.0
    assert 0.0 <= data["median_predict_ms"] <= data["p99_predict_ms"]
    assert data["median_predict_ms"] < 1000  # milliseconds, not seconds
    assert 0.0 < data["median_predict_cpu_ms"] < 1000
    assert data["train_seconds"] >= 0 and data["peak_memory_mb"] >= 0
    for candidate in data["candidates"]:
        assert 0.0 <= candidate["macro_f1"] <= 1.0


@pytest.fixture(scope="module")
def clinc_report() -> IntentEvalReport:
    return run_intent_eval("clinc150", CLINC, None, log=lambda _: None)


def test_clinc150_slice_end_to_end(clinc_report: IntentEvalReport) -> None:
    data = json.loads(clinc_report.model_dump_json())
    _check_ranges(data)
    assert data["dataset"] == "clinc150" and data["shots"] is None
    assert (data["n_train"], data["n_val"], data["n_test"], data["n_intents"]) == (110, 35, 65, 10)
    assert data["oos_recall"] is not None and data["oos_precision"] is not None
    assert len(data["candidates"]) == len(default_grid(has_oos=True))
    assert {"model", "c", "segment_emails", "oos_intent"} <= set(data["settings"])
    # the reported threshold is the one the fixed rule picks on validation
    assert data["operating_points"][0]["threshold"] == data["threshold"]
    assert data["in_scope_accuracy"] <= data["in_scope_top1"]
    assert data["in_scope_top1"] >= 0.6 and data["oos_recall"] > 0.3  # sanity on a slice, not a benchmark


def test_banking77_slice_with_shots() -> None:
    report = run_intent_eval("banking77", BANKING, 3, seed=1, log=lambda _: None)
    data = json.loads(report.model_dump_json())
    _check_ranges(data)
    assert data["shots"] == 3 and data["seed"] == 1
    assert data["n_train"] == 5 * 3 and data["n_test"] == 15
    assert data["oos_recall"] is None and data["oos_precision"] is None
    assert data["threshold"] == 0.0  # no out-of-scope class: nothing to reject
    assert data["operating_points"] == []


def test_loaders_read_the_slices(tmp_path: Path) -> None:
    clinc = load_clinc150(CLINC)
    assert {name: len(rows) for name, rows in clinc.items()} == {"train": 110, "val": 35, "test": 65}
    assert {name: sum(label == OOS for _, label in rows) for name, rows in clinc.items()} == {
        "train": 10, "val": 5, "test": 15}
    assert len(by_intent(clinc["train"])) == 10  # out-of-scope rows are not an intent
    banking = load_banking77(BANKING)
    assert {name: len(rows) for name, rows in banking.items()} == {"train": 30, "val": 10, "test": 15}
    assert all(text.strip() and label for rows in banking.values() for text, label in rows)
    folder = tmp_path / "banking77"  # a dataset's folder holds its file
    folder.mkdir()
    (folder / BANKING.name).write_bytes(BANKING.read_bytes())
    assert load_banking77(folder) == banking


@pytest.mark.parametrize(("load", "row", "message"), [
    (load_clinc150, {"text": "book a table", "split": "train"}, "line 2: not a dataset row (intent: Field required)"),
    (load_banking77, {"text": "card?", "intent": "card_arrival"}, "line 2: not a dataset row (split: Field required)"),
    (load_dstc11, {"text": "a quote", "intent": "GetQuote", "split": "dev"}, "a row without a domain ('a quote')"),
])
def test_a_malformed_row_is_refused(tmp_path: Path, load: Callable[[Path], object], row: dict[str, str],
                                    message: str) -> None:
    file = tmp_path / "rows.jsonl"
    good = {"text": "hello", "intent": "greet", "split": "train", "domain": "banking"}
    file.write_text(f"{json.dumps(good)}\n{json.dumps(row)}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{file}") + ".*" + re.escape(message)):  # eval-intents: exit 2
        load(file)


def test_dstc11_split_is_seeded_stratified_and_disjoint() -> None:
    domains = load_dstc11(DSTC11)
    assert set(domains) == {"banking", "finance", "insurance"}
    assert load_dstc11(DSTC11) == domains  # deterministic
    assert load_dstc11(DSTC11, seed=1) != domains
    for splits in domains.values():
        counts = {name: Counter(label for _, label in rows) for name, rows in splits.items()}
        assert set(counts["train"]) == set(counts["val"]) == set(counts["test"])  # every intent in every split
        for label in counts["train"]:  # 10 rows per intent in the slice: 6 / 2 / 2
            assert (counts["train"][label], counts["val"][label], counts["test"][label]) == (6, 2, 2)
        texts = [{t for t, _ in rows} for rows in splits.values()]
        assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_refit_fits_the_chosen_setting_on_train_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_graph.intent_eval import selection

    plain = run_intent_eval("banking77", BANKING, None, grid=SMALL_GRID[:1], log=lambda _: None)
    fitted_on: list[int] = []
    real = selection.fit_task

    def counting(task, candidate, train):  # type: ignore[no-untyped-def]
        fitted_on.append(len(train))
        return real(task, candidate, train)

    monkeypatch.setattr(selection, "fit_task", counting)  # the fits of the choice
    monkeypatch.setattr(report_module, "fit_task", counting)  # the refit
    refitted = run_intent_eval("banking77", BANKING, None, grid=SMALL_GRID[:1], refit=True, log=lambda _: None)
    assert (refitted.refit, plain.refit) == (True, False)
    assert refitted.settings == plain.settings and refitted.validation == plain.validation  # chosen alike
    assert fitted_on == [refitted.n_train, refitted.n_train + refitted.n_val]  # then train + validation
    with pytest.raises(ValueError, match="shots"):
        run_intent_eval("banking77", BANKING, 3, refit=True, log=lambda _: None)


def test_dstc11_slice_end_to_end() -> None:
    report = run_intent_eval("dstc11", DSTC11, None, log=lambda _: None)
    data = json.loads(report.model_dump_json())
    _check_ranges(data)
    assert (data["n_train"], data["n_val"], data["n_test"], data["n_intents"]) == (72, 24, 24, 12)
    assert set(data["per_domain"]) == {"banking", "finance", "insurance"}
    assert sum(d["n_test"] for d in data["per_domain"].values()) == data["n_test"]
    assert data["oos_recall"] is None


def test_shots_sampling_is_seeded_per_intent() -> None:
    train = load_clinc150(CLINC)["train"]
    sample = sample_shots(train, 3, seed=0)
    counts = Counter(label for _, label in sample)
    assert counts.pop(OOS) == 10  # out-of-scope rows are not an intent: kept whole
    assert set(counts.values()) == {3} and len(counts) == 10
    assert set(sample) <= set(train)
    assert sample_shots(train, 3, seed=0) == sample
    assert sample_shots(train, 3, seed=1) != sample
    assert len(sample_shots(train, 50, seed=0)) == len(train)  # more shots than rows: all of them
    assert sample_shots(train, None, seed=0) == train


def test_catalog_from_training_split() -> None:
    train = load_banking77(BANKING)["train"]
    catalog = build_catalog(train, name="banking77")
    assert len(catalog.lines_of_business) == 1
    intents = catalog.intents()
    assert len(intents) == 5
    for intent in intents:
        assert intent.examples == [t for t, label in train if intent_id(label) == intent.id]
    clinc = build_catalog(load_clinc150(CLINC)["train"], oos_intent=True)
    assert clinc.intent(OOS_INTENT_ID) is not None and len(clinc.intent(OOS_INTENT_ID).examples) == 10
    assert intent_id("Refund_not_showing_up") == "refund_not_showing_up"
    assert intent_id("FindATM") == "find_atm" and intent_id("GetQuote") == "get_quote"


class _Untouchable(list):
    """A test split that fails the moment anything reads it."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("the test split was read while choosing")

    __iter__ = __len__ = __getitem__ = __bool__ = __contains__ = _refuse  # type: ignore[assignment]


def test_choices_never_read_the_test_split() -> None:
    task = load_tasks(IntentDataset.CLINC150, CLINC)[0]
    poisoned = Task(task.name, task.train, task.val, _Untouchable())
    selection = select([poisoned], {task.name: task.train}, SMALL_GRID, log=lambda _: None)
    assert 0.0 <= selection.threshold <= 1.0 and selection.candidate in SMALL_GRID


def test_changing_the_test_split_changes_no_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    real = load_tasks

    def scrambled(dataset: IntentDataset, data: Path) -> list[Task]:
        tasks = real(dataset, data)
        rng = np.random.default_rng(0)
        for task in tasks:
            labels = [label for _, label in task.test]
            rng.shuffle(labels)
            task.test = [(text[::-1], label) for (text, _), label in zip(task.test, labels, strict=True)]
        return tasks

    honest = run_intent_eval("clinc150", CLINC, None, grid=SMALL_GRID, log=lambda _: None)
    monkeypatch.setattr(report_module, "load_tasks", scrambled)
    scrambled_run = run_intent_eval("clinc150", CLINC, None, grid=SMALL_GRID, log=lambda _: None)
    assert scrambled_run.threshold == honest.threshold
    assert scrambled_run.settings == honest.settings
    assert scrambled_run.validation == honest.validation
    assert [c["macro_f1"] for c in scrambled_run.candidates] == [c["macro_f1"] for c in honest.candidates]
    assert scrambled_run.in_scope_accuracy != honest.in_scope_accuracy  # the test split did change


def test_threshold_rule() -> None:
    def scored(gold, conf):
        return Scored(gold=gold, top=["a"] * len(gold), confidence=np.asarray(conf, dtype=float),
                      oos_top=np.zeros(len(gold), dtype=bool))

    assert choose_threshold(scored(["a", "a"], [0.9, 0.1])) == 0.0  # no out-of-scope rows: reject nothing
    # in-scope rows at 0.9 and 0.4, out-of-scope at 0.3 and 0.2: the highest threshold keeping
    # every in-scope row (loss <= 0.5 pt) rejects both out-of-scope rows
    assert choose_threshold(scored(["a", "a", OOS, OOS], [0.9, 0.4, 0.3, 0.2])) == 0.4
    assert choose_threshold(scored(["a", "a", OOS, OOS], [0.9, 0.4, 0.3, 0.2]), max_in_scope_loss=None) == 0.31


def test_print_report(clinc_report: IntentEvalReport) -> None:
    console = Console(record=True, width=160)
    print_intent_report(console, clinc_report)
    text = console.export_text()
    for words in ("in-scope accuracy", "out-of-scope recall", "macro-F1", "predict, median / p99", "peak memory",
                  "Test figures at other thresholds"):
        assert words in text


def test_unknown_dataset_is_refused() -> None:
    with pytest.raises(ValueError):
        run_intent_eval("snips", CLINC, None, log=lambda _: None)
    with pytest.raises(ValueError):
        run_intent_eval("clinc150", CLINC, 0, log=lambda _: None)


def test_grid_offers_the_sentence_embedding_to_validation() -> None:
    for has_oos in (False, True):
        grid = default_grid(has_oos=has_oos)
        weights = {c.settings.embedding for c in grid}
        assert 0.0 in weights and any(w > 0 for w in weights)  # n-grams alone compete with the embedding
        for candidate in grid:
            assert len(candidate.settings.confidence_weights()) == 5  # every candidate has a calibration
    assert {c.settings.model for c in default_grid(has_oos=True, models=["svm"])} == {"svm"}
