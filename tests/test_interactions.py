"""Recorded interactions: the typed API, the review path recording each decision, the draft as proposed
and as sent, feedback, and a catalog that records nothing personal. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent_graph.clock import FixedClock
from agent_graph.context import Context, services
from agent_graph.domain import Actor
from agent_graph.interactions import (
    InteractionKind,
    InteractionQuery,
    NewInteraction,
    catalog_version,
    edit_size,
    find,
    record,
)
from tests.conftest import T0

pytestmark = pytest.mark.both_databases


def _services(catalog, store, clock):
    return services(Context(catalog=catalog, store=store, clock=clock))


def test_recorded_interaction_reads_back_typed_and_stamped(catalog, store, clock):
    env = _services(catalog, store, clock)
    record(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=None, actor=Actor.REPRESENTATIVE,
                               actor_name="dana", summary="not useful", useful=False, comment="wrong order",
                               reason_code="wrong_intent"))
    (row,) = find(store, InteractionQuery(kinds=[InteractionKind.FEEDBACK]))
    assert (row.kind, row.actor, row.actor_name, row.useful, row.comment, row.reason_code) == (
        "feedback", "representative", "dana", False, "wrong order", "wrong_intent")
    assert row.at == T0 and row.catalog_version == catalog_version(catalog) and row.prompt_version is None
    assert find(store, InteractionQuery(since=T0 + timedelta(seconds=1))) == []
    assert find(store, InteractionQuery(kinds=[InteractionKind.ROUTED])) == []


def test_nothing_recorded_when_the_catalog_keeps_nothing_personal(catalog, store):
    env = _services(catalog.model_copy(update={"record_interactions": False}), store, FixedClock(T0))
    record(env, NewInteraction(kind=InteractionKind.FEEDBACK, case_id=None, actor=Actor.REPRESENTATIVE,
                               actor_name="dana", useful=True))
    assert find(store) == []


def test_reason_code_is_an_identifier(db_url):
    with pytest.raises(ValueError, match="reason_code"):
        NewInteraction(kind=InteractionKind.DRAFT_IGNORED, case_id=1, actor=Actor.REPRESENTATIVE,
                       reason_code="Wrong Intent!")


def test_catalog_version_follows_the_content(catalog, db_url):
    assert catalog_version(catalog) == catalog_version(catalog.model_copy())
    assert catalog_version(catalog) != catalog_version(catalog.model_copy(update={"organisation": "Other"}))


@pytest.mark.parametrize(("before", "after", "size"), [
    ("same", "same", 0), ("Hello Robin", "Hello Robin!", 1), ("abc", "xyz", 6), ("", "new", 3)])
def test_edit_size_counts_characters_inserted_and_deleted(before, after, size, db_url):
    assert edit_size(before, after) == size
