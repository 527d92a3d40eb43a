"""A run resolves its services once: every node of the run shares one catalog, store, brain, mailbox
and clock (issue 17), and a run never shares them with another context's run."""

from __future__ import annotations

from agent_graph.context import Context, services
from agent_graph.defaults import EXAMPLE_CATALOG


def test_a_context_resolves_its_services_once(tmp_path):
    context = Context(catalog_path=str(EXAMPLE_CATALOG), db_url=f"sqlite:///{tmp_path / 'cases.db'}", brain="offline")
    env = services(context)
    assert services(context) is env  # every node of the run gets the same objects
    assert env.brain is services(context).brain and env.mailbox is services(context).mailbox


def test_each_context_resolves_its_own(tmp_path):
    """The LangGraph server builds a context per run: one run's clock or automation never leaks into another's."""
    settings = {"catalog_path": str(EXAMPLE_CATALOG), "db_url": f"sqlite:///{tmp_path / 'cases.db'}"}
    pinned = services(Context(**settings, now="2026-03-02T09:00:00+00:00", automation={"shop": "confirm"}))
    free = services(Context(**settings))
    assert pinned is not free and pinned.brain is not free.brain
    assert pinned.clock.now().isoformat() == "2026-03-02T09:00:00+00:00" and free.automation == {}
    assert pinned.store is free.store  # one engine and pool per database URL per process (shared_store)
