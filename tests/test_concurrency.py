"""Many cases at once on threads, on a real SQLite store and checkpointer: nothing lost, nothing
sent twice, nothing left for recovery, and the brain's waits overlap (cpu_slots)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent_graph.brain.base import UnderstandRequest, Understanding
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import Catalog
from agent_graph.context import Context
from agent_graph.cpu_slots import waiting
from agent_graph.domain import Action, CaseStatus, OutboxStatus
from agent_graph.service import CaseAgent, open_checkpointer
from tests.conftest import email

COMPLETE = "Hi, I want to return the bike I bought, the frame is too big for me. My order is TB-{n:04d}. Thanks"
MISSING = "Hi, I want to return the bike I bought last week, the frame is too big for me."

# A deadlock among the workers would leave the pool waiting for ever: end the run with every
# thread's stack instead (a signal cannot interrupt a pool's shutdown).
pytestmark = pytest.mark.timeout(180, method="thread")


class RendezvousBrain(OfflineBrain):
    """Waits, as a model call would, until `parties` calls are waiting at once: it only returns if
    the agent lets that many cases wait together (else the barrier times out and the test fails)."""

    def __init__(self, parties: int):
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=20)

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        with waiting():
            self.barrier.wait()
        return super().understand(catalog, request)


def _agent(catalog, store, clock, checkpointer, brain=None) -> CaseAgent:
    return CaseAgent(Context(catalog=catalog, store=store, clock=clock, brain_engine=brain or OfflineBrain(),
                             automation={"shop": "full"}), checkpointer)


def test_forty_cases_on_eight_threads(catalog, store, clock):
    with open_checkpointer(store.url) as checkpointer:
        agent = _agent(catalog, store, clock, checkpointer)
        mails = [email((COMPLETE if n % 2 else MISSING).format(n=n), subject="Return", n=n,
                       sender=f"Customer {n} <c{n}@example.net>") for n in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(agent.process_email, mails))
        again = agent.process_email(mails[7])  # a redelivery while nothing else runs
    assert len({r.case_id for r in results}) == 40 and again.duplicate
    for n, result in enumerate(results):
        sent = [i for i in store.outbox(result.case_id) if i.status == OutboxStatus.SENT]
        expected = Action.SEND_RESOLUTION if n % 2 else Action.REQUEST_INFO
        assert result.outcome.action is expected, n
        assert len(sent) == 1 and sent[0].to_address == f"c{n}@example.net"
        status = store.case(result.case_id).status
        assert status == (CaseStatus.RESOLUTION_PROPOSED if n % 2 else CaseStatus.AWAITING_CUSTOMER)
    assert store.unfinished_runs() == []


def test_cases_waiting_on_the_brain_overlap(catalog, store, clock):
    parties = 6
    with open_checkpointer(store.url) as checkpointer:
        agent = _agent(catalog, store, clock, checkpointer, RendezvousBrain(parties))
        mails = [email(COMPLETE.format(n=n), subject="Return", n=n, sender=f"c{n}@example.net")
                 for n in range(parties)]
        with ThreadPoolExecutor(max_workers=parties) as pool:
            results = list(pool.map(agent.process_email, mails))
    assert all(r.outcome.action is Action.SEND_RESOLUTION for r in results)
