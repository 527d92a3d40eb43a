"""The fuzz corpus: hostile emails (tests/fuzz_emails.py) through the agent, as `process` takes them in.

Properties: no exception escapes; every email is stored or quarantined with a reason, and only
an email that is not one (no sender, no headers) is quarantined — any other quarantine is a
traceback, a bug; no reply goes to anyone but the sender; no case changes because of another
customer's email. Fixed seeds (one per CHUNK_EXAMPLES) and FUZZ_EXAMPLES examples (default: the size `make test` runs);
the full corpus is ``FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz.py`` (README).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from sqlalchemy import func, select

from agent_graph.catalog import parse_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.intake.building import build_email
from agent_graph.intake.parsing import parse_email
from agent_graph.service import CaseAgent, open_checkpointer
from agent_graph.store import CaseStore
from agent_graph.store.schema import outbox
from tests.conftest import CATALOG_YAML, T0
from tests.fuzz_emails import CUSTOMERS, MAILBOX, HostileEmail, hostile_emails

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
CHUNK_EXAMPLES = 500
CHUNKS = -(-FUZZ_EXAMPLES // CHUNK_EXAMPLES)
#: A sanity bound on one email, far above any real figure (the report prints the real maximum).
SECONDS_PER_EMAIL_BOUND = 60.0

FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                HealthCheck.large_base_example, HealthCheck.function_scoped_fixture])
#: The two properties the security branch makes true: no shrinking, so a known failure costs little.
SECURITY_SETTINGS = settings(FUZZ_SETTINGS, max_examples=min(FUZZ_EXAMPLES, 200),
                             phases=[Phase.explicit, Phase.generate])


@dataclass
class Tally:
    emails: int = 0
    stored: int = 0
    quarantined: int = 0
    seconds: list[float] = field(default_factory=list)

    def summary(self) -> str:
        worst = max(self.seconds, default=0.0)
        mean = sum(self.seconds) / len(self.seconds) if self.seconds else 0.0
        return (f"fuzz corpus (seeds {FUZZ_SEED}…{FUZZ_SEED + CHUNKS - 1}): {self.emails} hostile emails, 0 tracebacks, {self.stored} stored, "
                f"{self.quarantined} quarantined with a reason; per email mean {mean * 1000:.1f} ms, "
                f"max {worst * 1000:.0f} ms")


@pytest.fixture
def fuzz_agent(tmp_path: Path) -> Iterator[CaseAgent]:
    """An agent on a real SQLite store that holds one case per customer of CUSTOMERS.

    One per test, shared by all of its examples (each test sees the same emails: with one
    store for all, the later tests would see only duplicates)."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    store = CaseStore(url)
    catalog = parse_catalog(yaml.safe_load(CATALOG_YAML), "tidewater.yaml")
    with open_checkpointer(url) as checkpointer:  # as `case-agent process` runs it
        agent = CaseAgent(Context(catalog=catalog, store=store, clock=FixedClock(T0)), checkpointer)
        for address, name, message_id in CUSTOMERS:
            agent.process_email(build_email(from_=f"{name} <{address}>", to=MAILBOX, subject="Return",
                                            body="I want to return my bike, order TB-1234, it is too big.",
                                            message_id=message_id, date=T0))
        yield agent
    store.close()


@pytest.fixture(scope="module")
def tally(pytestconfig: pytest.Config) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    if counts.emails:
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print("\n" + counts.summary())


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_hostile_email_is_stored_or_quarantined_with_a_reason(fuzz_agent: CaseAgent, tally: Tally,
                                                                    chunk: int) -> None:
    """In chunks of at most CHUNK_EXAMPLES, each with its own seed: Hypothesis slows down as one
    run's examples pile up (it remembers every choice it made)."""

    @seed(FUZZ_SEED + chunk)
    @settings(FUZZ_SETTINGS, max_examples=-(-FUZZ_EXAMPLES // CHUNKS))
    @given(hostile=hostile_emails())
    def stored_or_quarantined(hostile: HostileEmail) -> None:
        check_stored_or_quarantined(fuzz_agent, tally, hostile)

    stored_or_quarantined()


def check_stored_or_quarantined(fuzz_agent: CaseAgent, tally: Tally, hostile: HostileEmail) -> None:
    store = fuzz_agent.env.store
    started = time.perf_counter()
    result = fuzz_agent.take_in(hostile.raw, "fuzz")  # raises nothing, whatever the email
    elapsed = time.perf_counter() - started
    if result.quarantined is not None:
        entry = store.quarantined_email(result.quarantined)
        assert entry is not None and entry.raw == hostile.raw
        assert entry.error.startswith("EmailParseError: "), f"a traceback, not a refusal: {entry.error}"
    else:
        email = parse_email(hostile.raw, own_addresses=[MAILBOX])
        assert store.message_by_header(email.message_id) is not None
    assert elapsed < SECONDS_PER_EMAIL_BOUND
    tally.emails += 1
    tally.quarantined += result.quarantined is not None
    tally.stored += result.quarantined is None
    tally.seconds.append(elapsed)


def _outbox_ceiling(store: CaseStore) -> int:
    with store.engine.connect() as connection:
        return connection.scalar(select(func.max(outbox.c.id))) or 0


@seed(FUZZ_SEED)
@SECURITY_SETTINGS
@given(hostile=hostile_emails())
def test_no_reply_goes_to_anyone_but_the_sender(fuzz_agent: CaseAgent, hostile: HostileEmail) -> None:
    store = fuzz_agent.env.store
    ceiling = _outbox_ceiling(store)
    fuzz_agent.take_in(hostile.raw, "fuzz")
    if hostile.true_sender is None:  # no one plain sender: the From header itself is the trick
        return
    new_items = [item for item in store.outbox() if item.id > ceiling]
    wrong = [item.to_address for item in new_items if item.to_address.lower() != hostile.true_sender.lower()]
    assert not wrong, f"{hostile.tricks}: replies from {hostile.true_sender} went to {wrong}"


@seed(FUZZ_SEED)
@SECURITY_SETTINGS
@given(hostile=hostile_emails())
def test_no_case_changes_because_of_another_customers_email(fuzz_agent: CaseAgent, hostile: HostileEmail) -> None:
    store = fuzz_agent.env.store
    others = [case for case in store.list_cases(limit=len(CUSTOMERS))
              if case.customer_email != (hostile.true_sender or "").lower()]
    # A reply (In-Reply-To or References) from another address, or automatic mail, is recorded on the
    # case it threads to (behaviour.md): its messages and status may change, never its fields, intent
    # or outbox. A case number in the subject alone must change nothing.
    threads = {"in_reply_to", "references"} & set(hostile.tricks)
    state = _customer_data if threads else _case_state
    before = {case.id: state(store, case.id) for case in others}
    fuzz_agent.take_in(hostile.raw, "fuzz")
    changed = [case_id for case_id, seen in before.items() if state(store, case_id) != seen]
    assert not changed, f"{hostile.tricks}: an email from {hostile.true_sender} changed cases {changed}"


def _customer_data(store: CaseStore, case_id: int) -> tuple[object, ...]:
    case = store.case(case_id)
    return (case.customer_email, case.intent, store.current_fields(case_id), len(store.outbox(case_id)))


def _case_state(store: CaseStore, case_id: int) -> tuple[object, ...]:
    return (store.case(case_id), len(store.field_history(case_id)), len(store.messages(case_id)),
            len(store.outbox(case_id)))
