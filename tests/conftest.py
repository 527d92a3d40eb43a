"""Shared fixtures: a small catalog of a fictional organisation, a real store, a fake clock.

The store is SQLite; a module marked ``both_databases`` runs each of its tests on SQLite and on a
real PostgreSQL (``tests/pgserver.py``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_graph.brain.types import ReplyKind
from agent_graph.catalog import Catalog, parse_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.intake.building import build_email
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore, Message, OutboxItem
from tests.pgserver import PostgresCluster

REPO = Path(__file__).resolve().parent.parent
CATALOG_YAML = """
organisation: Tidewater Bikes
mailbox: help@tidewater.example
default_template: generic
follow_up: {after: P2D, max_follow_ups: 2, close_after_last: P3D}
limits: {max_info_requests: 2, intent_confidence: 0.5}
lines_of_business:
  - id: shop
    name: Shop orders
    automation: full
    queue: shop-desk
    intents:
      - id: return_bike
        name: Return a bike
        description: The customer wants to return a bike they bought and get their money back.
        examples:
          - I want to return the bike I bought, it is too big for me
          - Can I send back my bicycle for a refund?
          - The frame size is wrong, I'd like to return it
          - How do I return my order and get a refund
        attributes:
          - {name: order_ref, description: the order reference, type: string, pattern: 'TB-\\d{4}'}
          - {name: reason, description: why the bike goes back, type: text}
        resolution:
          template: return_ok
          knowledge: Returns are collected by courier within 5 business days.
      - id: delivery_date
        name: Delivery date
        description: The customer asks when their bike will be delivered.
        examples:
          - When will my bike be delivered?
          - My bike hasn't arrived yet, when is the delivery?
          - What is the delivery date of my order
          - Has my bicycle shipped yet
        attributes:
          - {name: order_ref, description: the order reference, type: string, pattern: 'TB-\\d{4}'}
        resolution:
          knowledge: Bikes ship within 3 days and arrive 2 days later.
    templates:
      - id: return_ok
        intents: [return_bike]
        purpose: resolution
        subject: 'Your return {{ fields.order_ref }} [{{ case.number }}]'
        body: |
          Hello {{ customer.first_name | default("there") }},
          Your return of order {{ fields.order_ref }} is booked. {{ knowledge }}
          Tidewater Bikes
  - id: workshop
    name: Workshop
    automation: confirm
    queue: workshop-desk
    intents:
      - id: repair_booking
        name: Repair booking
        description: The customer wants to book a repair or a service for their bike in the workshop.
        examples:
          - I'd like to book a service for my bike
          - My brakes are squeaking, can you repair them?
          - Can I bring my bike in for a tune-up next week?
          - The gears skip, I need a repair appointment
        attributes:
          - {name: preferred_date, description: the day the customer would like to come, type: date}
        resolution:
          knowledge: The workshop is open Monday to Saturday, 9 to 5.
templates:
  - id: generic
    purpose: generic
    subject: 'Re: {{ case.title }} [{{ case.number }}]'
    body: |
      Hello {{ customer.first_name | default("there") }},

      {{ message }}

      Tidewater Bikes support
"""

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Keys of a recorded request body that may differ between the recording and the replay: the
# model name is the stand-in's or, for a cassette recorded against a real endpoint, that one's.
VOLATILE_BODY_KEYS = frozenset({"model"})


def _json_body(request: Any) -> Any:
    body = request.body
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict):
        return {key: value for key, value in parsed.items() if key not in VOLATILE_BODY_KEYS}
    return parsed


def json_body_matcher(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the body the code sends now equals the recorded one, but for volatile keys.
    Without it a replayed test would read the recorded body, not the one the code sends."""
    sent, kept = _json_body(live), _json_body(recorded)
    if sent != kept:
        changed = sorted(k for k in set(sent or {}) | set(kept or {})
                         if (sent or {}).get(k) != (kept or {}).get(k)) if isinstance(sent, dict) \
            and isinstance(kept, dict) else ["body"]
        raise AssertionError(f"request body differs from the cassette in {changed}: re-record it "
                             "(tests/cassettes/README.md)")


def pytest_recording_configure(config: Any, vcr: Any) -> None:
    vcr.register_matcher("json_body", json_body_matcher)


@pytest.fixture(scope="session", autouse=True)
def refund_agent_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo catalog's refund agent (examples/refund_agent.py) keeps its orders here, not in the repository."""
    path = tmp_path_factory.mktemp("refund-agent") / "orders.db"
    os.environ["REFUND_AGENT_DB"] = str(path)
    return path


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(yaml.safe_load(CATALOG_YAML), "tidewater.yaml")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = any(mark.args and "db_url" in mark.args[0] for mark in metafunc.definition.iter_markers("parametrize"))
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases") and not chosen:
        metafunc.parametrize("db_url", DATABASES, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file, or a database on the test session's PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres").new_database()
    return f"sqlite:///{tmp_path / 'cases.db'}"


@pytest.fixture
def store(db_url: str) -> CaseStore:
    created = CaseStore(db_url)
    yield created
    created.close()


@pytest.fixture
def make_agent(catalog: Catalog, store: CaseStore, clock: FixedClock):
    def _make(**automation: str) -> CaseAgent:
        return CaseAgent(Context(catalog=catalog, store=store, clock=clock, automation=automation))
    return _make


def email(body: str, *, subject: str = "Hello", sender: str = "Robin Vale <robin@example.net>", n: int = 1,
          in_reply_to: str | None = None, headers: dict[str, str] | None = None, at: datetime = T0) -> bytes:
    return build_email(from_=sender, to="help@tidewater.example", subject=subject, body=body,
                       message_id=f"m{n}@customer.example", date=at, in_reply_to=in_reply_to,
                       references=[in_reply_to] if in_reply_to else [], headers=headers)


def thread_email(body: str, *, subject: str, sender: str, to: str, message_id: str, at: datetime,
                 last: Message | OutboxItem | None) -> bytes:
    """A customer's email on a thread: the first one, or the reply to ``last`` (the subject gets "Re: ")."""
    return build_email(from_=sender, to=to, subject=subject if last is None else f"Re: {subject}", body=body,
                       message_id=message_id, date=at, in_reply_to=last.message_id if last else None,
                       references=[last.message_id] if last else [])


def reply_cases(*groups: tuple[ReplyKind, list[str]]) -> list[tuple[str, ReplyKind]]:
    """(sentence, kind) pairs from groups of sentences written for one kind: one parametrized test of
    ``classify_reply`` covers them all."""
    return [(text, kind) for kind, texts in groups for text in texts]
