"""The chaos tier, bounded: emails through ``case-agent run --workers 2`` on SQLite and on
PostgreSQL while workers, and now and then the whole service, are killed with SIGKILL
(``tests/chaos.py``; its full size, 1,000 emails and 30 kills, is a command: README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos import run_chaos
from tests.mailservers import Dovecot

CHAOS_EMAILS = 80
CHAOS_KILLS = 6

pytestmark = [pytest.mark.timeout(900, method="thread"), pytest.mark.both_databases]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    yield server
    server.cleanup()


def test_workers_killed_at_random_lose_nothing_and_answer_each_email_once(
        db_url: str, dovecot: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = db_url.partition(":")[0].partition("+")[0]
    report = run_chaos(db_url, database, CHAOS_EMAILS, CHAOS_KILLS, dovecot, tmp_path, timeout=600,
                       progress=lambda _text: None)
    with capsys.disabled():
        print("\n" + "\n".join(report.lines()))
    assert report.kills >= CHAOS_KILLS
    assert report.problems() == []
