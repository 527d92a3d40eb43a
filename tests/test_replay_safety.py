"""The replay evals: one broken thread is that thread's error, recorded MIME headers build, a
resolution for the wrong intent is unsafe, and emails held for review are counted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_graph.intake.building import build_email
from agent_graph.intake.parsing import parse_email
from agent_graph.replay import run_suite, unsafe_kinds
from tests.conftest import REPO

FERRIES = REPO / "tests/fixtures/ferries/catalog.yaml"
MOVE = "Please move my crossing MF4821 to 12 June 2026, something came up at work."


def first_email(body: str, subject: str = "Ferry booking", **expect: Any) -> dict[str, Any]:
    return {"at": "2026-06-01T09:00:00Z",
            "email": {"from": "Ines Moreau <ines.moreau@example.org>", "subject": subject, "body": body},
            "expect": expect}


def suite(tmp_path: Path, threads: dict[str, list[dict[str, Any]]], catalog: dict[str, Any] | None = None,
          **thread_keys: Any) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    if catalog is None:
        shutil.copy(FERRIES, folder / "catalog.yaml")
    else:
        (folder / "catalog.yaml").write_text(yaml.safe_dump(catalog), encoding="utf-8")
    for name, turns in threads.items():
        (folder / f"{name}.json").write_text(json.dumps({"id": name, "turns": turns, **thread_keys}), encoding="utf-8")
    return folder


BOUNCE_HEADERS = {"Content-Type": "multipart/report; report-type=delivery-status", "MIME-Version": "1.0"}


def test_a_recorded_content_type_shapes_the_built_email():
    raw = build_email(from_="Mail Delivery System <mailer-daemon@relay.example>", to="help@marlow-ferries.example",
                      subject="Undelivered Mail Returned to Sender", body="Your message could not be delivered.",
                      message_id="bounce1@relay.example", date=datetime(2026, 6, 1, tzinfo=UTC),
                      headers=BOUNCE_HEADERS)
    parsed = parse_email(raw)
    assert parsed.automatic_reason == "multipart/report: delivery-status"
    assert "could not be delivered" in parsed.new_text


def test_a_bounce_recorded_with_its_content_type_replays_and_is_ignored(tmp_path):
    bounce = {"at": "2026-06-01T10:00:00Z", "expect": {"action": "ignore", "outbound": "none"},
              "email": {"from": "postmaster@relay.example", "subject": "Delivery Status Notification (Failure)",
                        "in_reply_to": "previous", "headers": BOUNCE_HEADERS,
                        "body": "Delivery to ines.moreau@example.org failed permanently."}}
    report = run_suite(suite(tmp_path, {"bounce": [first_email(MOVE), bounce]}))
    assert report.errors == [] and report.succeeded == 1 and report.unsafe == 0


def test_one_thread_that_breaks_is_its_own_error_and_the_run_goes_on(tmp_path):
    broken = first_email(MOVE)
    broken["email"]["headers"] = {"X-Note": "folded\nwrongly"}
    folder = suite(tmp_path, {"a-broken": [broken], "b-fine": [first_email(MOVE, action="send_resolution")]})
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "agent_graph.cli", "eval", str(folder), "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["threads"] == 2 and report["succeeded"] == 1
    [error] = report["errors"]
    assert error["file"].endswith("a-broken.json") and "ValueError" in error["error"]
    assert "could not replay" in run.stdout and "a-broken.json" in run.stdout


@pytest.mark.parametrize("expected_intent", ["cancel_booking", None])
def test_a_resolution_for_another_intent_than_expected_is_unsafe(tmp_path, expected_intent):
    report = run_suite(suite(tmp_path, {"wrong": [first_email(MOVE, intent=expected_intent)]}))
    assert report.unsafe_by_kind["wrong_resolution"] == 1


def test_a_drafted_resolution_for_the_wrong_intent_is_unsafe_and_the_expected_intent_carries_over(tmp_path):
    turns = [first_email("Hello, I need to change the date of my ferry booking, something came up.",
                         intent="cancel_booking"),
             {"at": "2026-06-01T10:00:00Z", "expect": {"action": "send_resolution"},
              "email": {"from": "ines.moreau@example.org", "subject": "Re: Ferry booking", "in_reply_to": "previous",
                        "body": "The code is MF4821 and we would like to sail on 12 June 2026."}}]
    report = run_suite(suite(tmp_path, {"drafted": turns}, automation={"sailings": "confirm"}))
    assert [t.unsafe for t in report.results] == [[], ["wrong_resolution"]]


def test_the_right_resolution_and_a_thread_that_never_states_the_intent_are_safe():
    actual = {"action": "send_resolution", "outbound": "sent", "intent": "cancel_booking", "status": "x", "to": []}
    assert unsafe_kinds({}, actual, False, None, "cancel_booking") == []
    assert unsafe_kinds({}, actual, False, None) == []
    assert unsafe_kinds({}, {**actual, "action": "request_info"}, False, None, None) == []


def test_resolutions_held_for_review_are_counted(tmp_path):
    catalog = yaml.safe_load(FERRIES.read_text(encoding="utf-8"))
    catalog["limits"]["send_confidence"] = 0.999
    turns = [first_email(MOVE, action="send_resolution", outbound="drafted", status="pending_review")]
    report = run_suite(suite(tmp_path, {"held": turns}, catalog=catalog))
    assert report.succeeded == 1 and report.held_for_review == 1 and report.unsafe == 0
    assert report.results[0].actual["held_for_review"] is True
