"""Chaos: emails through ``case-agent run --workers 2`` while its workers are killed with SIGKILL.

Real servers (Dovecot, aiosmtpd: ``tests/mailservers.py``), a real store (SQLite or PostgreSQL), the
real command line in its own processes. Workers are killed at random moments, some exactly between
the SMTP server accepting a reply and the worker marking it delivered, and now and then the whole
service (the supervisor and its workers) is killed and started again. Afterwards it counts, at the
SMTP server and in the store: every email answered exactly once, every case in the state and with
the trail one clean run gives, nothing left to run, to deliver or to recover.

``tests/test_chaos.py`` runs a bounded size on every ``make test``; the full size is a command:

    .venv/bin/python -m tests.chaos --db sqlite --emails 1000 --kills 30
    .venv/bin/python -m tests.chaos --db postgresql --emails 1000 --kills 30
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent_graph.context import Context
from agent_graph.domain import Direction
from agent_graph.service import CaseAgent, open_checkpointer
from agent_graph.store import CaseStore
from tests.conftest import CATALOG_YAML, REPO
from tests.mailservers import Dovecot, SmtpHandler, SmtpServer

MAILBOX = "help@tidewater.example"
#: In every this many rounds, the whole service (supervisor and workers at once) is killed instead
#: of one worker: the first time half-way, so that a short run has one too.
SERVICE_KILL_EVERY = 6


def customer_email(n: int) -> bytes:
    text = (f"From: Customer {n} <customer{n}@example.org>\nTo: {MAILBOX}\nSubject: Return number {n}\n"
            f"Date: Tue, 3 Mar 2026 10:00:00 +0000\nMessage-ID: <c{n}@example.org>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\nI want to return the bike I bought, it is too big for me.\n")
    return text.replace("\n", "\r\n").encode()


@dataclass
class ChaosReport:
    database: str
    emails: int
    kills: int = 0
    kills_in_smtp_answer: int = 0
    service_kills: int = 0
    worker_restarts: int = 0
    replies: int = 0
    answered: int = 0
    answered_twice: int = 0
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    cases_unlike_a_clean_run: int = 0
    unprocessed_emails: int = 0
    queued: int = 0
    unfinished_runs: int = 0
    undelivered: int = 0
    failed_deliveries: int = 0
    quarantined: int = 0
    found_in_sent: int = 0
    seconds: float = 0.0

    def problems(self) -> list[str]:
        expected = {"answered": self.emails, "replies": self.emails, "cases": self.emails, "answered_twice": 0,
                    "cases_unlike_a_clean_run": 0, "unprocessed_emails": 0, "queued": 0, "unfinished_runs": 0,
                    "undelivered": 0, "failed_deliveries": 0, "quarantined": 0}
        return [f"{name}: {getattr(self, name)} (expected {value})" for name, value in expected.items()
                if getattr(self, name) != value]

    def lines(self) -> list[str]:
        return [f"chaos on {self.database}: {self.emails} emails through `run --workers 2` in {self.seconds:.0f} s",
                f"  SIGKILL: {self.kills} (of which {self.kills_in_smtp_answer} between the SMTP server accepting "
                f"a reply and the worker marking it; {self.service_kills} of the whole service, then started again); "
                f"workers restarted by the supervisor: {self.worker_restarts}",
                f"  replies at the SMTP server: {self.replies}; emails answered: {self.answered}; "
                f"answered twice: {self.answered_twice}; found in the Sent folder, not sent again: {self.found_in_sent}",
                f"  cases: {self.cases} {self.statuses}; unlike a clean run: {self.cases_unlike_a_clean_run}",
                f"  left: unprocessed emails {self.unprocessed_emails} (in the queue {self.queued}), runs to recover {self.unfinished_runs}, "
                f"undelivered {self.undelivered}, failed deliveries {self.failed_deliveries}, "
                f"quarantined {self.quarantined}",
                "  result: " + ("; ".join(self.problems()) or "nothing lost, nothing twice")]


def _trail(store: CaseStore, case_id: int) -> tuple[str, tuple[str, ...]]:
    """What a case ends as: its status and the kinds of its interactions, in order."""
    return store.case(case_id).status, tuple(i.kind for i in store.interactions(case_id))


def clean_run(catalog: Path, workdir: Path) -> tuple[str, tuple[str, ...]]:
    """The status and trail of one such email processed once, without chaos."""
    db = f"sqlite:///{workdir / 'reference.db'}"
    store = CaseStore(db)
    with open_checkpointer(db) as checkpointer:
        agent = CaseAgent(Context(db_url=db, catalog_path=str(catalog), store=store), checkpointer)
        result = agent.process_email(customer_email(0))
        assert result.case_id is not None
        trail = _trail(store, result.case_id)
    store.close()
    return trail


class Service:
    """``case-agent run --workers 2`` as a process of its own (a new session: killed as a group)."""

    def __init__(self, args: list[str], log: Path):
        self.log = log
        with log.open("a", encoding="utf-8") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "agent_graph.cli", *args], cwd=REPO,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, "PYTHONPATH": str(REPO)})

    def workers(self) -> list[int]:
        pid = self.process.pid
        try:
            return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


SETTLE_SECONDS = 120
"""After the last reply reached the SMTP server, how long the running service may take to finish its
bookkeeping (a worker killed after the server accepted a reply leaves its run to be taken over and
found in the Sent folder): a bound for a broken recovery, not a timing the test relies on."""


def _left_over(store: CaseStore) -> int:
    return len(store.unfinished_runs()) + len(store.undelivered()) + store.count_queued()


def _settle(db_url: str, seconds: float) -> None:
    """Wait while the service still has runs to take over, deliveries to finish or emails queued."""
    store = CaseStore(db_url)
    try:
        deadline = time.monotonic() + seconds
        while _left_over(store) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        store.close()


def run_chaos(db_url: str, database: str, emails: int, kills: int, dovecot: Dovecot, workdir: Path,
              seed: int = 3, timeout: float = 1800, progress: Callable[[str], None] = print) -> ChaosReport:
    rng = random.Random(seed)
    report = ChaosReport(database=database, emails=emails)
    started = time.monotonic()
    catalog = workdir / "catalog.yaml"
    catalog.write_text(CATALOG_YAML)
    reference = clean_run(catalog, workdir)
    account = dovecot.new_user()
    for n in range(1, emails + 1):
        dovecot.append(account, customer_email(n))
    services: list[Service] = []
    in_answer = {emails * share // 10 for share in (1, 4, 7)}  # accepted counts at which a worker dies in the answer
    lock = threading.Lock()

    def kill_a_worker() -> bool:
        workers = services[-1].workers() if services else []
        if not workers:
            return False
        try:
            os.kill(rng.choice(workers), signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def kill_in_answer(accepted: int) -> None:
        with lock:
            if accepted in in_answer and report.kills < kills and kill_a_worker():
                report.kills += 1
                report.kills_in_smtp_answer += 1

    handler = SmtpHandler(file_in_sent=dovecot.appender(account, "Sent"), after_accept=kill_in_answer)
    with SmtpServer(handler) as smtp:
        args = ["run", "--workers", "2", "--mailbox", dovecot.url(account), "--smtp", smtp.url(), "--db", db_url,
                "--catalog", str(catalog), "--sent-folder", "Sent", "--tick-every", "3600", "--poll", "0.5"]
        services.append(Service(args, workdir / "service-0.log"))
        step = max(1, emails // (kills + 5))
        rounds = 0
        while report.kills < kills or len(handler.received) < emails:
            if time.monotonic() - started > timeout:
                break
            target = min(emails, len(handler.received) + rng.randint(1, 2 * step))
            deadline = time.monotonic() + 60
            while len(handler.received) < target and time.monotonic() < deadline:
                time.sleep(0.05)
            if report.kills >= kills:
                continue
            time.sleep(rng.uniform(0, 0.3))
            rounds += 1
            with lock:
                if rounds % SERVICE_KILL_EVERY == SERVICE_KILL_EVERY // 2:
                    services[-1].kill_all()
                    report.kills += 1
                    report.service_kills += 1
                    services.append(Service(args, workdir / f"service-{len(services)}.log"))
                elif kill_a_worker():
                    report.kills += 1
            progress(f"{report.kills} kills, {len(handler.received)}/{emails} replies")
        _settle(db_url, SETTLE_SECONDS)
        services[-1].stop()
        with lock:  # the servers stay up until the counts are taken
            replies = collections.Counter(received.message["In-Reply-To"] for received in handler.received)

    logs = "".join(path.read_text(encoding="utf-8") for path in sorted(workdir.glob("service-*.log")))
    report.worker_restarts = logs.count(": restarting it in")
    report.found_in_sent = logs.count("found in the Sent folder, not sent again")
    report.replies = sum(replies.values())
    report.answered = sum(1 for n in range(1, emails + 1) if replies.get(f"<c{n}@example.org>"))
    report.answered_twice = sum(1 for count in replies.values() if count > 1)
    store = CaseStore(db_url)
    cases = store.list_cases()
    report.cases = len(cases)
    report.statuses = dict(collections.Counter(case.status for case in cases))
    report.cases_unlike_a_clean_run = sum(1 for case in cases if _trail(store, case.id) != reference)
    report.unprocessed_emails = sum(1 for case in cases for message in store.messages(case.id)
                                    if message.direction == Direction.INBOUND and not message.processed)
    report.unfinished_runs = len(store.unfinished_runs())
    report.undelivered = len(store.undelivered())
    report.failed_deliveries = len(store.failed_deliveries())
    report.quarantined = store.count_quarantined()
    report.queued = store.count_queued()
    store.close()
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    options = parser.parse_args()
    from tests.pgserver import PostgresCluster

    dovecot = Dovecot()
    cluster = PostgresCluster() if options.db == "postgresql" else None
    with tempfile.TemporaryDirectory(prefix="case-agent-chaos-") as tmp:
        try:
            dovecot.start()
            if cluster is not None:
                cluster.start()
                db_url = cluster.new_database()
            else:
                db_url = f"sqlite:///{Path(tmp) / 'cases.db'}"
            report = run_chaos(db_url, options.db, options.emails, options.kills, dovecot, Path(tmp),
                               seed=options.seed, timeout=3600,
                               progress=lambda text: print(text, file=sys.stderr, flush=True))
        finally:
            dovecot.cleanup()
            if cluster is not None:
                cluster.stop()
    print("\n".join(report.lines()))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    raise SystemExit(main())
