"""The replay suites end to end: the project's own (100 %) and another organisation's (held-out style)."""

from __future__ import annotations

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


@pytest.mark.parametrize("suite", ["other_org", "third_org", "fourth_org"])
def test_other_organisations_suites(suite):
    """Suites for catalogs the engine was not written against; third_org and fourth_org were written from
    the spec alone, blind to the code."""
    report = run_suite(REPO / "tests/suites" / suite)
    assert report.unsafe == 0
    assert report.success_rate >= 0.9


def test_demo_inbox_plays_as_scripted():
    report = run_suite(REPO / "examples/inbox")
    assert report.success_rate == 1.0 and report.unsafe == 0


def test_langgraph_json_names_a_compiled_graph():
    config = json.loads((REPO / "langgraph.json").read_text())
    module_path, _, attribute = config["graphs"]["case_agent"].partition(":")
    module = module_path.removeprefix("./").removesuffix(".py").replace("/", ".")
    code = f"import {module} as m; g = m.{attribute}; print(type(g).__name__, g.checkpointer)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["CompiledStateGraph", "None"]
