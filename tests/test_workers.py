"""Many workers on one store (``agent_graph.claims``, ``CaseStore``'s queue, deliveries, mailbox
owners and clock turns), on SQLite and on a real PostgreSQL: threads and processes that race for
the same rows, never mocks. The whole service under SIGKILL is ``tests/test_chaos.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from agent_graph.brain.base import UnderstandRequest, Understanding
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import Catalog
from agent_graph.claims import Claim, Claimant, Heartbeat
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.domain import OutboxStatus
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore, NewOutboxItem
from tests.conftest import REPO, T0, email

pytestmark = [pytest.mark.timeout(600, method="thread"), pytest.mark.both_databases]

RETURN = "Hi, I want to return the bike I bought, the frame is too big for me. My order is TB-{n:04d}."


def store_mail(agent: CaseAgent, *raws: bytes) -> None:
    for raw in raws:
        result = agent.store_email(raw, "test")
        assert result.quarantined is None, result


def test_the_queue_gives_each_email_to_one_worker_and_a_cases_emails_in_order(
        make_agent, store: CaseStore) -> None:
    agent: CaseAgent = make_agent()
    first = email(RETURN.format(n=1), sender="Ana <ana@example.org>", n=1)
    store_mail(agent, first)
    reply = email("Sorry, it is TB-0002.", sender="Ana <ana@example.org>", n=2, subject="Re: Hello",
                  in_reply_to="<m1@customer.example>")
    other = email(RETURN.format(n=3), sender="Ben <ben@example.org>", n=3)
    # The reply threads by References to the first email's case, once that one is stored.
    store_mail(agent, reply, other)
    a, b = Claimant(), Claimant()
    taken = store.claim_next_email(a.claim())
    assert taken is not None and taken.message_id == "m1@customer.example"
    second = store.claim_next_email(b.claim())
    assert second is not None and second.message_id == "m3@customer.example"  # not Ana's reply: her case waits
    assert store.claim_next_email(b.claim()) is None
    store.mark_processed(taken.id)
    third = store.claim_next_email(b.claim())
    assert third is not None and third.message_id == "m2@customer.example"


def test_a_lapsed_claim_is_taken_over_and_a_dead_processes_claims_at_once(
        make_agent, store: CaseStore) -> None:
    agent: CaseAgent = make_agent()
    store_mail(agent, email(RETURN.format(n=1), n=1), email(RETURN.format(n=2), sender="Ben <ben@example.org>", n=2))
    lapsed = Claim(owner="elsewhere:1:x:1", at=T0 - timedelta(hours=1), until=T0 - timedelta(minutes=59))
    assert store.claim_next_email(lapsed) is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a pid that no longer exists
    gone = Claimant()
    gone.prefix = gone.prefix.replace(f":{os.getpid()}:", f":{dead}:")
    held = store.claim_next_email(gone.claim())
    assert held is not None
    live = Claimant()
    taken = store.claim_next_email(live.claim())  # the lapsed one (another machine's, its lease ran out)
    assert taken is not None and taken.claimed_by == live.owner
    assert store.claim_next_email(live.claim()) is None  # the dead process's lease still runs...
    assert store.release_dead_claims() == [held.claimed_by]  # ...but this host knows it is gone
    again = store.claim_next_email(live.claim())
    assert again is not None and again.id == held.id


def test_threads_racing_for_the_queue_take_each_email_exactly_once(make_agent, store: CaseStore) -> None:
    agent: CaseAgent = make_agent()
    store_mail(agent, *(email(RETURN.format(n=n), sender=f"C{n} <c{n}@example.org>", n=n) for n in range(40)))
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        claimant = Claimant()
        while (message := store.claim_next_email(claimant.claim())) is not None:
            with lock:
                taken.append(message.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 40 and len(set(taken)) == 40


def test_each_outbox_email_is_claimed_for_delivery_by_one_worker(make_agent, store: CaseStore) -> None:
    make_agent()
    case = store.open_case(lob="orders", customer_email="ana@example.org", customer_name=None, title="t", at=T0)
    for n in range(6):
        item = store.add_outbox(NewOutboxItem(case_id=case.id, idempotency_key=f"k{n}", action="reply", purpose="reply",
                                           template_id=None, to_address="ana@example.org", subject="s", body="b",
                                           status=OutboxStatus.APPROVED, status_after_send="awaiting_customer",
                                           in_reply_to=None, message_id=f"<o{n}@x>", created_at=T0))
        store.mark_sent(item.id, T0, "raw")
    a, b = Claimant(), Claimant()
    first = store.claim_deliveries(a.claim(), T0, limit=4)
    second = store.claim_deliveries(b.claim(), T0)
    assert [i.id for i in first] + [i.id for i in second] == [i.id for i in store.undelivered()]
    assert store.claim_deliveries(b.claim(), T0) == []
    assert first[0].id is not None
    store.set_outbox(first[0].id, claimed_by=None, claim_expires_at=None)  # let go without delivering
    assert [i.id for i in store.claim_deliveries(b.claim(), T0)] == [first[0].id]
    at = a.claim().until + timedelta(seconds=1)  # every claim has lapsed by then (leases are on the wall clock)
    assert len(store.claim_deliveries(Claim(owner=b.owner, at=at, until=at + timedelta(minutes=1)), T0)) == 6


def test_the_clock_turn_goes_to_one_worker_per_period(store: CaseStore) -> None:
    assert store.take_turn("clock", "a", T0, T0 + timedelta(minutes=5))
    assert not store.take_turn("clock", "b", T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    assert store.take_turn("clock", "b", T0 + timedelta(minutes=5), T0 + timedelta(minutes=10))


def test_the_heartbeat_renews_what_a_worker_holds(make_agent, store: CaseStore) -> None:
    agent: CaseAgent = make_agent()
    store_mail(agent, email(RETURN.format(n=1), n=1))
    claimant = Claimant(lease=timedelta(seconds=60))
    held = store.claim_next_email(claimant.claim())
    assert held is not None and held.claim_expires_at is not None
    claimant.lease = timedelta(hours=2)
    Heartbeat(store, claimant).beat()
    renewed = store.message(held.id).claim_expires_at
    assert renewed is not None and renewed - held.claim_expires_at > timedelta(minutes=100)


OWNER = """
import sys, time
sys.path.insert(0, {repo!r})
from agent_graph.claims import Claimant
from agent_graph.store import CaseStore
store = CaseStore(sys.argv[1])
print(store.own_mailbox("imap://shop/INBOX", Claimant().claim()), flush=True)
time.sleep(600)
"""


def test_one_worker_fetches_a_mailbox_and_another_takes_over_when_it_dies(store: CaseStore, db_url: str) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER.format(repo=str(REPO)), db_url], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "True"
        other = Claimant()
        assert not store.own_mailbox("imap://shop/INBOX", other.claim())
        assert store.own_mailbox("imap://other/INBOX", other.claim())  # another mailbox: its own owner
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert store.own_mailbox("imap://shop/INBOX", other.claim())  # at once: the owner is gone
    assert store.own_mailbox("imap://shop/INBOX", other.claim())  # and stays its own
    store.disown_mailbox("imap://shop/INBOX", other.claim())
    assert store.own_mailbox("imap://shop/INBOX", Claimant().claim())


class BrokenBrain(OfflineBrain):
    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        raise RuntimeError("the model is away")


def test_a_stored_email_is_run_by_take_next_and_a_failing_one_leaves_the_queue_until_retried(
        make_agent, store: CaseStore, catalog: Catalog, clock: FixedClock) -> None:
    agent: CaseAgent = make_agent()
    store_mail(agent, email(RETURN.format(n=1), n=1))
    taken = agent.take_next()
    assert taken is not None
    message, result = taken
    assert result.case_number == "CAS-000001" and store.message(message.id).processed
    assert agent.take_next() is None
    broken = CaseAgent(Context(catalog=catalog, store=store, clock=clock, brain_engine=BrokenBrain()))
    raw = email(RETURN.format(n=2), sender="Ben <ben@example.org>", n=2)
    store_mail(broken, raw)
    taken = broken.take_next()
    assert taken is not None and taken[1].quarantined is not None
    assert broken.take_next() is None and store.count_queued() == 0 and store.unfinished_runs() == []
    retried = agent.take_in(raw)  # case-agent quarantine retry
    assert retried.case_number == "CAS-000002" and store.count_quarantined() == 0
    assert store.message(taken[0].id).processed and store.message(taken[0].id).quarantined_at is None


def test_status_counts_the_emails_waiting_for_a_worker(make_agent, store: CaseStore, db_url: str) -> None:
    from typer.testing import CliRunner

    from agent_graph.cli import app

    store_mail(make_agent(), email(RETURN.format(n=1), n=1), email(RETURN.format(n=2), sender="Ben <b@example.org>", n=2))
    result = CliRunner().invoke(app, ["status", "--db", db_url])
    assert result.exit_code == 0 and "emails stored and waiting to run: 2" in result.output
