"""``case-agent status --check``: the health check the Compose file (deploy/compose.yaml) runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_graph.cli import app
from agent_graph.store import CaseStore
from tests.conftest import email

pytestmark = pytest.mark.both_databases

MAILBOX = "imap://support@mail.example/INBOX"


def check(url: str, *more: str) -> tuple[int, str]:
    out = CliRunner().invoke(app, ["status", "--check", "--db", url, *more])
    return out.exit_code, out.output


def test_healthy_while_the_workers_keep_up_and_why_not_otherwise(store: CaseStore, make_agent) -> None:
    assert check(store.url) == (0, f"healthy: {store.url}\n")

    now = datetime.now(UTC)
    store.set_mailbox_position(MAILBOX, last_fetch_at=now - timedelta(seconds=30), backlog=0)
    assert check(store.url)[0] == 0

    store.set_mailbox_position(MAILBOX, last_fetch_at=now - timedelta(minutes=20))
    code, output = check(store.url)
    assert code == 1 and f"unhealthy: mailbox {MAILBOX}: not fetched for over 600 s" in output
    assert check(store.url, "--stale-after", "3600")[0] == 0

    store.set_mailbox_position(MAILBOX, last_error="AUTHENTICATIONFAILED", last_error_at=now)
    code, output = check(store.url, "--stale-after", "3600")
    assert code == 1 and "the last fetch failed" in output and "AUTHENTICATIONFAILED" in output
    store.set_mailbox_position(MAILBOX, last_fetch_at=datetime.now(UTC))
    assert check(store.url)[0] == 0, "a fetch after the error: healthy again"

    # an email the agent sent (at T0, months ago) that no worker delivered
    make_agent().process_email(email("Hi, I want to return the bike I bought last week, it is too big."))
    code, output = check(store.url)
    assert code == 1 and "unhealthy: outbox: 1 email(s) due for delivery since 2026-03-02" in output


def test_a_database_that_cannot_be_opened_is_exit_code_2(tmp_path: Path) -> None:
    code, output = check(f"sqlite:///{tmp_path / 'missing.db'}")
    assert code == 2 and "no case database" in output
    assert not (tmp_path / "missing.db").exists()
