"""Claims: two workers on one store never run the same email twice, and a case runs one email at a time.

Real SQLite, real processes (and threads); the workers meet at points the test sets with files or
the store, never by sleeping for a guessed time."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from agent_graph.brain.base import UnderstandRequest, Understanding
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import Catalog, parse_catalog
from agent_graph.context import Context
from agent_graph.cpu_slots import waiting
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import receive
from agent_graph.service import CaseAgent, open_checkpointer
from agent_graph.store import CaseStore
from tests.conftest import CATALOG_YAML, REPO, T0, email

RETURN = "Hi, I want to return the bike I bought, the frame is too big for me. My order is TB-{n:04d}."
REPAIR = "My brakes are squeaking, can you repair them? I could come on {day} March."

pytestmark = [pytest.mark.timeout(600, method="thread"),  # workers that deadlock fail the run, never hang it
              pytest.mark.both_databases]

WORKER = """
import sys, time
from pathlib import Path
import yaml
sys.path.insert(0, {repo!r})
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import parse_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.service import CaseAgent, open_checkpointer
from agent_graph.store import CaseStore
from tests.conftest import CATALOG_YAML, T0

role, db, folder, signals = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])


def wait_for(name):
    deadline = time.monotonic() + 60  # a bound for a broken run, not a timing the test relies on
    while not (signals / name).exists() and time.monotonic() < deadline:
        time.sleep(0.01)


class HoldingBrain(OfflineBrain):
    \"\"\"Worker A stays inside its first email's run until worker B has been through the whole folder.\"\"\"
    def understand(self, catalog, request):
        if self.calls == 0:
            (signals / "a_inside").touch()
            wait_for("b_done")
        return super().understand(catalog, request)


store = CaseStore(db)
with open_checkpointer(db) as checkpointer:
    agent = CaseAgent(Context(db_url=db, catalog=parse_catalog(yaml.safe_load(CATALOG_YAML)), store=store,
                              clock=FixedClock(T0), brain_engine=HoldingBrain() if role == "A" else OfflineBrain()),
                      checkpointer)
    if role == "B":
        wait_for("a_inside")
    for path in sorted(folder.iterdir()):
        agent.process_email(path.read_bytes())
    if role == "B":
        (signals / "b_done").touch()
"""


def test_two_processes_on_one_folder_run_each_email_once(tmp_path: Path, db_url: str):
    folder, signals = tmp_path / "inbox", tmp_path / "signals"
    folder.mkdir()
    signals.mkdir()
    for n in range(8):  # a case each; the odd ones in the workshop, where drafts wait for review
        body = RETURN.format(n=n) if n % 2 == 0 else REPAIR.format(day=10 + n)
        (folder / f"{n:02d}.eml").write_bytes(email(body, subject=f"Mail {n}", n=n, sender=f"c{n}@example.net"))
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(repo=str(REPO)))
    CaseStore(db_url).close()  # both find the schema made

    workers = [subprocess.Popen([sys.executable, str(script), role, db_url, str(folder), str(signals)], cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
               for role in ("A", "B")]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()

    store = CaseStore(db_url)
    audit = collections.Counter((i.case_id, i.kind, i.summary) for i in store.interactions())
    assert [entry for entry, count in audit.items() if count > 1] == []
    assert len(store.list_cases()) == 8 and all(m.processed for c in store.list_cases() for m in store.messages(c.id))
    assert store.unfinished_runs() == []
    with open_checkpointer(store.url) as checkpointer:
        reviewer = CaseAgent(Context(db_url=store.url, catalog=_catalog(), store=store), checkpointer)
        drafts = store.pending_drafts()
        assert len(drafts) == 4
        assert all(reviewer.pending_review(draft.case_id) is not None for draft in drafts)
    store.close()


class HoldFirstRun(OfflineBrain):
    """Inside its first run, waits (as a model call does, its CPU slot given back) until the case's
    next email has been run — which never happens while the case is claimed: then the bound lets
    it go on. The moment a second run would interleave."""

    def __init__(self, store: CaseStore, next_email: str):
        super().__init__()
        self.store, self.next_email = store, next_email

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        if self.calls == 0:
            deadline = time.monotonic() + 3
            with waiting():
                while time.monotonic() < deadline:
                    stored = self.store.message_by_header(self.next_email)
                    if stored is not None and stored.processed:
                        break
                    time.sleep(0.01)
        return super().understand(catalog, request)


def test_a_case_runs_one_email_at_a_time(catalog, store, clock):
    """A second thread with the case's next email waits for the first (giving its CPU slot back
    meanwhile): one draft waits for review, the newest, and it can be answered."""
    first = email(REPAIR.format(day=10), subject="Brakes", n=1)
    second = email("Actually the 12th of March suits me better.", subject="Re: Brakes", n=2,
                   in_reply_to="m1@customer.example")
    with open_checkpointer(store.url) as checkpointer:
        agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock,
                                  brain_engine=HoldFirstRun(store, "m2@customer.example")), checkpointer)
        results = {}
        running = threading.Thread(target=lambda: results.update(first=agent.process_email(first)), daemon=True)
        running.start()
        while store.message_by_header("m1@customer.example") is None:  # the first run holds the case now
            time.sleep(0.01)
        waiting_one = threading.Thread(target=lambda: results.update(second=agent.process_email(second)), daemon=True)
        waiting_one.start()
        for thread in (running, waiting_one):
            thread.join(timeout=60)
            assert not thread.is_alive(), "the two runs of one case wait for each other"
        case_id = results["second"].case_id
        drafts = store.pending_drafts(case_id)
        assert len(drafts) == 1 and "m2@customer.example" in drafts[0].idempotency_key
        assert agent.pending_review(case_id) is not None
    assert store.unfinished_runs() == []


def test_a_stored_email_another_worker_is_running_is_left_to_it(make_agent, store):
    """The second copy of an email whose first copy is still running elsewhere is not run again."""
    mail = email(RETURN.format(n=1), subject="Return", n=1)
    worker_a, worker_b = make_agent(), make_agent()
    with store.unit_of_work():  # A has stored and claimed it, and not finished
        receive(worker_a.env.catalog, store, worker_a.env.clock, parse_email(mail), worker_a.claimant.claim())
    result = worker_b.process_email(mail)
    assert result.duplicate and "another worker" in result.outcome.note
    assert store.outbox() == []


def _catalog() -> Catalog:
    return parse_catalog(yaml.safe_load(CATALOG_YAML))


def _until_a_transaction_waits_for_a_lock(store: CaseStore) -> None:
    deadline = time.monotonic() + 30  # a bound for a broken test, not a timing it relies on
    with store.engine.connect() as watcher:
        while not watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND datname = current_database()")):
            assert time.monotonic() < deadline, "the second worker never waited for the first"
            time.sleep(0.01)
            watcher.rollback()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_storing_one_new_email_at_once_run_it_once(make_agent, store):
    """On PostgreSQL neither transaction sees the other's uncommitted row: the second worker's insert
    waits for the first, then stores nothing and finds the email as stored (no unique-key error)."""
    mail = email(RETURN.format(n=1), subject="Return", n=1)
    worker_a, worker_b = make_agent(), make_agent()
    results = {}
    with store.unit_of_work():  # A stores and claims it, and has not committed yet
        receive(worker_a.env.catalog, store, worker_a.env.clock, parse_email(mail), worker_a.claimant.claim())
        second = threading.Thread(target=lambda: results.update(b=worker_b.process_email(mail)), daemon=True)
        second.start()
        _until_a_transaction_waits_for_a_lock(store)
    second.join(timeout=60)
    assert results["b"].duplicate and "another worker" in results["b"].outcome.note
    assert store.count_cases() == 1 and store.outbox() == []


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_registering_a_run_of_one_case_at_once_run_it_once(make_agent, store):
    case = store.open_case(lob="shop", customer_email="robin@example.net", customer_name=None, title="t", at=T0)
    worker_a, worker_b = make_agent(), make_agent()
    results = {}
    with store.unit_of_work():
        assert store.begin_run("thread-1", case.id, T0, {}, worker_a.claimant.claim())
        second = threading.Thread(target=lambda: results.update(
            b=store.begin_run("thread-1", case.id, T0, {}, worker_b.claimant.claim())), daemon=True)
        second.start()
        _until_a_transaction_waits_for_a_lock(store)
    second.join(timeout=60)
    assert results == {"b": False} and [run.owner for run in store.unfinished_runs()] == [worker_a.claimant.owner]
