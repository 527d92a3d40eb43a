"""The replay suites end to end: the project's own (100 %) and another organisation's (held-out style)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest

from agent_graph.replay import run_suite
from tests.conftest import REPO


def test_project_suite_succeeds_fully_and_safely():
    report = run_suite(REPO / "evals/threads")
    failures = [(t.thread, t.turn, [f.model_dump() for f in t.failures]) for t in report.results if not t.ok]
    assert report.threads >= 30
    assert report.errors == []
    assert failures == []
    assert report.success_rate == 1.0
    assert report.unsafe == 0


@pytest.mark.parametrize("suite", ["other_org", "third_org", "fourth_org", "fifth_org", "seventh_org", "eighth_org"])
def test_other_organisations_suites(suite):
    """Suites for catalogs the engine was not written against; third_org and fourth_org were written from
    the spec alone, blind to the code; fifth_org (an airline) has deliberately hard emails; seventh_org holds
    issue 9's remaining kinds; eighth_org answers in en, es and de (issue 10). All at 100 %, as the README says."""
    report = run_suite(REPO / "tests/suites" / suite)
    failures = [(t.thread, t.turn, [f.model_dump() for f in t.failures]) for t in report.results if not t.ok]
    assert report.errors == []
    assert failures == []
    assert report.unsafe == 0


KNOWN_FAILURES = {
    "sixth_org": {
        "c-h2-off-topic-minibus-no-intent": "the classifier takes an off-topic minibus hire for extra_driver (0.75)",
        "p-g1-ambiguous-repeat-or-transfer-drafted":
            "between two intents, but the classifier is 0.84 sure and the embedding's reading prefers the guess "
            "too (both readings together: 0.90)",
    },
    "ninth_org": {
        "n-a2-stop-the-fee-cancel-or-payment-held":
            "payment change 0.95; both readings together still 0.63, above the hold (0.48): sent",
    },
    "tenth_org": {
        "e-a2-moving-in-cheaper-deal-held": "moving home 0.83, both readings together 0.74: sent",
        "e-a3-monthly-amount-wrong-held": "unidentified (0.10): asked about, not drafted (safe)",
        "e-a4-fixed-deal-ends-cannot-manage-held": "tariff switch 0.90, both readings together 0.79: sent",
        "e-a5-payments-come-down-held": "help with paying 0.70, both readings together 0.93: sent",
        "e-n2-non-native-going-home-close": "non-native English left unidentified (moving home 0.49): asked about",
    },
}


@functools.cache
def _thread_outcomes(suite: str) -> dict[str, tuple[bool, int]]:
    """Each thread of a suite: (succeeded, unsafe turns)."""
    report = run_suite(REPO / "tests/suites" / suite)
    assert report.errors == []
    outcomes: dict[str, tuple[bool, int]] = {}
    for turn in report.results:
        ok, unsafe = outcomes.get(turn.thread, (True, 0))
        outcomes[turn.thread] = (ok and turn.ok, unsafe + len(turn.unsafe))
    return outcomes


@pytest.mark.parametrize("suite", sorted(KNOWN_FAILURES))
def test_hard_suites_succeed_but_for_their_known_failures(suite):
    """sixth_org (issue 9's held-out suite), ninth_org and tenth_org (issue 9's ambiguity, non-native and
    off-topic kinds on new material, tenth_org written before the two readings were combined): every thread
    but the known failures succeeds, and only known failures may be unsafe."""
    outcomes = _thread_outcomes(suite)
    known = KNOWN_FAILURES[suite]
    assert set(known) <= set(outcomes)
    assert [t for t, (ok, _) in outcomes.items() if not ok and t not in known] == []
    assert [t for t, (_, unsafe) in outcomes.items() if unsafe and t not in known] == []


@pytest.mark.parametrize("suite,thread", [
    pytest.param(suite, thread, marks=pytest.mark.xfail(strict=True, reason=reason))
    for suite, threads in KNOWN_FAILURES.items() for thread, reason in threads.items()])
def test_known_failure(suite, thread):
    """Each known failure, kept visible: when one starts to pass, this fails (strict) until it is removed."""
    assert _thread_outcomes(suite)[thread][0]


def test_demo_inbox_plays_as_scripted(tmp_path, monkeypatch):
    """On a fresh orders table, as `make demo` plays it (the session's table has refunds other tests made)."""
    monkeypatch.setenv("REFUND_AGENT_DB", str(tmp_path / "orders.db"))
    report = run_suite(REPO / "examples/inbox")
    assert report.success_rate == 1.0 and report.unsafe == 0


def test_langgraph_json_names_a_compiled_graph():
    config = json.loads((REPO / "langgraph.json").read_text())
    module_path, _, attribute = config["graphs"]["case_agent"].partition(":")
    module = module_path.removeprefix("./").removesuffix(".py").replace("/", ".")
    code = f"import {module} as m; g = m.{attribute}; print(type(g).__name__, g.checkpointer)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["CompiledStateGraph", "None"]
