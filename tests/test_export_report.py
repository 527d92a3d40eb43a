"""`case-agent export` (one schema for cases, messages and interactions, JSON Lines and CSV), `case-agent
report` (per LOB and intent, charts) and the representatives' CLI (`review` feedback, `field`, `show`'s
hand-off summary), on a store the agent filled; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_graph.cli import app
from agent_graph.export import COLUMNS, ExportFormat, export_rows, write_export
from agent_graph.usage_report import build_report, render_html
from tests.conftest import CATALOG_YAML, T0, email

pytestmark = pytest.mark.both_databases

REPAIR = "Hello, my brakes squeak terribly. Could I bring my bike in for a repair on 10 March 2026? Thanks, Robin"


@pytest.fixture
def filled(make_agent, store, clock, tmp_path: Path):
    """Three cases: a return resolved with the customer's thanks, a repair draft edited and sent, a repair
    draft ignored (routed)."""
    agent = make_agent()
    returned = agent.process_email(email("I want to return the bike I bought, it is too big. Order TB-1234.",
                                         subject="Return", sender="Ann Lee <ann@example.org>", n=1))
    clock.advance(timedelta(hours=2))
    agent.process_email(email("Thanks, that works for me.", subject="Re: Return", sender="Ann Lee <ann@example.org>",
                              n=2, in_reply_to="m1@customer.example", at=T0 + timedelta(hours=2)))
    edited = agent.process_email(email(REPAIR, subject="Brake repair", n=3))
    clock.advance(timedelta(minutes=10))
    body = store.outbox(edited.case_id)[-1].body
    agent.answer_review(edited.case_id, [{"type": "edit", "reviewer": "dana",
                                          "args": {"args": {"body": body + "\nBring the bike at 9."}}}])
    ignored = agent.process_email(email(REPAIR, subject="Brake repair", sender="Kim Park <kim@example.com>", n=4))
    assert store.case(returned.case_id).status == "resolved"
    return {"agent": agent, "resolved": returned.case_id, "edited": edited.case_id, "ignored": ignored.case_id}


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), terminal_width=250)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_jsonl_holds_every_case_message_and_interaction_in_one_schema(filled, store, db_url):
    lines = [json.loads(line) for line in _invoke("export", "--db", db_url).splitlines()]
    assert all(list(row) == COLUMNS for row in lines)
    kinds = [row["record"] for row in lines]
    assert kinds.count("case") == 3 and kinds.count("message") == len(store.messages_since())
    assert kinds.count("interaction") == len(store.interactions())
    assert kinds == sorted(kinds, key=["case", "message", "interaction"].index)
    edited = next(row for row in lines if row["kind"] == "draft_edited")
    assert (edited["actor_name"], edited["edit_size"], edited["decision_seconds"], edited["case_number"]) == (
        "dana", len("\nBring the bike at 9."), 600.0, "CAS-000002")


def test_export_since_and_csv(filled, store, db_url, tmp_path: Path):
    out = tmp_path / "export.csv"
    assert "rows written to" in _invoke("export", "--db", db_url, "--format", "csv", "--since",
                                        (T0 + timedelta(hours=1)).isoformat(), "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and list(rows[0]) == COLUMNS
    assert {row["case_number"] for row in rows if row["record"] == "case"} == {"CAS-000002", "CAS-000003"}
    assert all(row["at"] >= "2026-03-02T10" for row in rows) and any(row["record"] == "message" for row in rows)
    edited = next(row for row in rows if row["kind"] == "draft_edited")
    assert json.loads(edited["detail"]) == {"action": "send_resolution"} and edited["useful"] == ""
    buffer = io.StringIO()
    count = write_export(export_rows(store), buffer, ExportFormat.CSV)
    assert count == len(list(csv.DictReader(io.StringIO(buffer.getvalue())))) > len(rows)


def test_report_counts_per_lob_and_intent(filled, store, db_url, clock, tmp_path: Path):
    report = build_report(store, clock.now())
    by_intent = {group.intent: group for group in report.groups}
    assert set(by_intent) == {"return_bike", "repair_booking"}
    returned, repair = by_intent["return_bike"], by_intent["repair_booking"]
    assert (returned.cases, returned.resolved_confirmed, returned.escalated) == (1, 1, 0)
    assert returned.median_resolution_hours == pytest.approx(2.0) and returned.median_first_response_hours == 0.0
    assert (repair.cases, repair.drafts_decided, repair.drafts_edited, repair.acceptance_rate) == (2, 1, 1, 1.0)
    assert repair.mean_edit_size == len("\nBring the bike at 9.") and repair.open == 2  # one sent, one waiting
    assert repair.median_first_response_hours == pytest.approx(10 / 60)  # the review took ten minutes
    assert report.total.cases == 3
    page = render_html(report)
    assert page.count("<svg") == 4 and "shop / return_bike" in page and "<script" not in page
    html = tmp_path / "report.html"
    printed = _invoke("report", "--db", db_url, "--html", str(html))
    assert "workshop / repair_booking" in printed and "all cases" in printed
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_review_feedback_field_edit_and_hand_off_from_the_cli(store, db_url, tmp_path: Path):
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(CATALOG_YAML, encoding="utf-8")
    (tmp_path / "repair.eml").write_bytes(email(REPAIR, subject="Brake repair"))
    _invoke("process", str(tmp_path / "repair.eml"), "--db", db_url, "--catalog", str(catalog_file))
    refused = CliRunner().invoke(app, ["review", "CAS-000001", "--ignore", "--reason", "Not Needed", "--db", db_url,
                                       "--catalog", str(catalog_file)])
    assert refused.exit_code == 2 and "reason_code" in refused.output
    _invoke("review", "CAS-000001", "--ignore", "--reason", "not_needed", "--not-useful", "--comment", "he called",
            "--reviewer", "lee", "--db", db_url, "--catalog", str(catalog_file))
    (ignored,) = [i for i in store.interactions(1) if i.kind == "draft_ignored"]
    assert (ignored.actor_name, ignored.reason_code, ignored.useful, ignored.comment) == (
        "lee", "not_needed", False, "he called")
    shown = _invoke("show", "CAS-000001", "--db", db_url)
    assert "Hand-off summary (worded offline)" in shown and "Routed because: the representative discarded the draft" in shown
    set_field = _invoke("field", "CAS-000001", "preferred_date", "2026-03-12", "--by", "lee", "--db", db_url,
                        "--catalog", str(catalog_file))
    assert "preferred_date = 2026-03-12 (set by lee)" in set_field
    assert "lee" in _invoke("show", "CAS-000001", "--db", db_url)
