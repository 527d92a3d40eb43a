"""The fuzz corpus through the service (tests/fuzz_service.py): 2 `case-agent run` processes on one
PostgreSQL database, a bounded number of hostile emails (FUZZ_SERVICE_EMAILS, default 300; the full
10,000 is the command in the README). Counts, not timings: 0 crashes, every email stored or
quarantined, nothing blocked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from agent_graph.intake.building import build_email
from agent_graph.service import CHECKPOINT_SETUP_LOCK, CaseAgent
from agent_graph.store import CaseStore
from tests.conftest import REPO, T0, email
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


OPEN_CHECKPOINTER = """
import sys
from agent_graph.service import open_checkpointer
from agent_graph.store import CaseStore
print("ready", flush=True)
CaseStore(sys.argv[1]).close()  # as every command: the store, then the checkpoints
with open_checkpointer(sys.argv[1]):
    print("opened", flush=True)
"""


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_processes_starting_together_set_the_checkpoint_tables_up_without_a_deadlock(db_url: str) -> None:
    """Found by the corpus run: two workers started at the same moment on a new database hung for
    good. One held the setup lock while LangGraph's setup created an index CONCURRENTLY, which waits
    for every transaction, among them the other's wait for that lock (in pg_advisory_lock, or in the
    store's migration, which took the same lock). Here both wait for the lock (held by the test)
    before it is let go."""
    admin = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK,))
        workers = [subprocess.Popen([sys.executable, "-c", OPEN_CHECKPOINTER, db_url], cwd=REPO, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        time.sleep(3)  # both are at the lock by now (an order of events, not a timing assertion)
        holder.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK,))
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=120)[0])
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            pytest.fail("the two processes setting the checkpoint tables up deadlocked")
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert all("opened" in output for output in outputs)
