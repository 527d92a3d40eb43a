"""The fuzz corpus through the service (tests/fuzz_service.py): 2 `case-agent run` processes on one
PostgreSQL database, a bounded number of hostile emails (FUZZ_SERVICE_EMAILS, default 300; the full
10,000 is the command in the README). Counts, not timings: 0 crashes, every email stored or
quarantined, nothing blocked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_graph.intake.building import build_email
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore
from tests.conftest import T0, email
from tests.fuzz_service import fuzz_service

FUZZ_SERVICE_EMAILS = int(os.environ.get("FUZZ_SERVICE_EMAILS", "300"))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_hostile_emails_through_two_run_processes_on_postgresql(db_url: str, tmp_path: Path,
                                                                pytestconfig: pytest.Config) -> None:
    counts = fuzz_service(tmp_path, db_url, FUZZ_SERVICE_EMAILS, workers=2, timeout=1200)
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + counts.summary())
    assert counts.exit_codes == [0, 0] and counts.tracebacks == 0
    assert counts.crashed == [], counts.crashed
    assert counts.missing == 0 and counts.stored + counts.quarantined == counts.distinct
    assert (counts.unfinished_runs, counts.unprocessed, counts.undelivered) == (0, 0, 0)
    assert counts.stored > counts.quarantined > 0 and counts.delivered > 0


@pytest.mark.both_databases
def test_a_message_id_longer_than_a_header_line_is_stored_and_threads(make_agent, store: CaseStore) -> None:
    """Found by the corpus on PostgreSQL (SQLite does not check lengths): a 5,000-character Message-ID
    is stored by its digest, and a reply naming it threads to its case."""
    agent: CaseAgent = make_agent()
    huge = "x" * 5000 + "@fuzz.example"
    first = build_email(from_="Robin Vale <robin@example.net>", to="help@tidewater.example", subject="Return",
                        body="I want to return my bike, it is too big.", message_id=huge, date=T0)
    taken = agent.take_in(first)
    assert taken.quarantined is None and taken.case_id is not None
    [stored] = store.customer_messages(taken.case_id)
    assert stored.message_id.startswith("long-") and len(stored.message_id) < 100
    reply = agent.take_in(email("My order is TB-1234.", subject="Re: Return", n=2, in_reply_to=huge))
    assert reply.quarantined is None and reply.case_id == taken.case_id
    assert agent.take_in(first).duplicate
