"""The command line, run as a user would: the installed entry point in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, email

CLI = [sys.executable, "-m", "agent_graph.cli"]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_help_explains_every_command():
    out = run("--help").stdout
    for command in ("demo", "process", "tick", "cases", "show", "check-catalog", "eval", "review"):
        assert command in out


def test_check_catalog_summary_and_errors(tmp_path: Path):
    ok = run("check-catalog", "examples/catalog.yaml")
    assert ok.returncode == 0 and "valid" in ok.stdout and "orders" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "examples/catalog.yaml").read_text().replace("automation: full", "automation: always", 1))
    failed = run("check-catalog", str(bad))
    assert failed.returncode == 2
    assert "bad.yaml: lines_of_business[0].automation" in failed.stderr


def test_process_review_tick_cases_show(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    body = "Hello, I was charged twice for order ORD-123456 - $89.99 on 3 March 2026. Please fix it. Sam"
    (inbox / "1.eml").write_bytes(email(body, subject="Charged twice", sender="Sam Lee <sam@example.net>")
                                  .replace(b"help@tidewater.example", b"support@pinecrest.example"))
    (inbox / "2.eml").write_text("this is not an email at all")
    processed = run("process", str(inbox), "--db", db, "--now", "2026-03-04T09:00:00Z")
    assert processed.returncode == 0  # one file could not be read and waits in the quarantine; the other was processed
    assert "2.eml" in processed.stderr and "nothing was sent" in processed.stderr
    assert "1 processed, 1 quarantined" in processed.stdout
    assert "CAS-000001" in processed.stdout and "drafted" in processed.stdout
    listed = run("review", "--db", db)
    assert "CAS-000001" in listed.stdout
    accepted = run("review", "CAS-000001", "--accept", "--db", db, "--now", "2026-03-04T10:00:00Z")
    assert accepted.returncode == 0 and "sent" in accepted.stdout
    ticked = run("tick", "--db", db, "--now", "2026-03-07T09:00:00Z")
    assert "follow_up" in ticked.stdout
    table = run("cases", "--db", db)
    assert "CAS-000001" in table.stdout and "pending_review" in table.stdout  # the follow-up is drafted (confirm)
    timeline = run("show", "CAS-000001", "--db", db)
    assert "email in" in timeline.stdout and "review_accept" in timeline.stdout and "email out" in timeline.stdout
    again = run("process", str(inbox / "1.eml"), "--db", db)
    assert "duplicate" in again.stdout


def test_eval_writes_json(tmp_path: Path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(REPO / "evals/threads/catalog.yaml", suite)
    for name in ("orders-missing-order-number-one-round.json", "orders-bounce-ignored.json"):
        shutil.copy(REPO / "evals/threads" / name, suite)
    (suite / "broken.json").write_text("{not json")
    out = tmp_path / "report.json"
    result = run("eval", str(suite), "--json", str(out))
    assert result.returncode == 0
    report = json.loads(out.read_text())
    assert report["threads"] == 3 and report["succeeded"] == 2
    assert set(report["unsafe_by_kind"]) == {"sent_without_approval", "wrong_recipient", "premature_close",
                                             "replied_to_automatic"}
    assert {"thread", "turn", "ok", "actual", "failures"} <= set(report["results"][0])
    assert "broken.json" in report["errors"][0]["error"]


@pytest.mark.parametrize("command", [["cases"], ["show", "CAS-000001"]])
def test_commands_on_an_empty_store(tmp_path: Path, command):
    result = run(*command, "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode in (0, 2)
