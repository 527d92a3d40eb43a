"""The fuzz corpus (tests/fuzz_emails.py) through the service: ``case-agent run`` processes on one database.

Writes N hostile emails (fixed seeds, one per 500) and the first emails of the corpus's known
customers (so that hostile emails thread to real cases) into a mailbox folder, starts W
``case-agent run --once`` processes on it at the same moment (each reads the whole folder; each email
is claimed by one of them, ``agent_graph/claims.py``), waits for them, and counts:

- **crashes**: a process that did not exit 0, a traceback in a log, or an email quarantined for any
  reason but not being an email (``EmailParseError``) — each is a bug;
- every email **stored** (its Message-ID in the store, processed) or **quarantined** (its bytes in
  the quarantine with the reason);
- nothing **blocked**: no run left unfinished, no inbound email left unprocessed, nothing left to
  deliver.

Run alone (the full size; a throwaway PostgreSQL cluster unless ``--db`` names a database)::

    .venv/bin/python -m tests.fuzz_service --emails 10000 --workers 2

``tests/test_fuzz_service.py`` runs a bounded size in ``make test``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from sqlalchemy import func, select

from agent_graph.errors import EmailParseError
from agent_graph.intake import build_email, parse_email
from agent_graph.store import CaseStore
from agent_graph.store.repository import raw_digest
from agent_graph.store.schema import messages, quarantine
from tests.conftest import CATALOG_YAML, REPO, T0
from tests.fuzz_emails import CUSTOMERS, MAILBOX, HostileEmail, hostile_emails

DEFAULT_SEED = 20261203
CHUNK = 500
#: Longest a run of the whole corpus may take before the processes are killed (a hang is a failure).
TIMEOUT_SECONDS = 3 * 3600


def corpus(count: int, first_seed: int = DEFAULT_SEED) -> list[bytes]:
    """``count`` distinct hostile emails, the same for the same seed: Hypothesis with one fixed seed per
    CHUNK (it repeats small examples: chunks are drawn until ``count`` distinct ones are there)."""
    emails: dict[bytes, None] = {}
    chunk_seed = first_seed
    while len(emails) < count:  # whole chunks: each seed's first examples are the simplest, the same ones
        for raw in _chunk(min(count, CHUNK), chunk_seed):
            if len(emails) < count:
                emails[raw] = None
        chunk_seed += 1
    return list(emails)


def _chunk(wanted: int, chunk_seed: int) -> list[bytes]:
    emails: list[bytes] = []

    @seed(chunk_seed)
    @settings(max_examples=wanted, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hostile=hostile_emails())
    def collect(hostile: HostileEmail) -> None:
        if len(emails) < wanted:
            emails.append(hostile.raw)

    collect()
    return emails


def seed_emails() -> list[bytes]:
    """The known customers' first emails: the cases hostile emails try to thread into."""
    return [build_email(from_=f"{name} <{address}>", to=MAILBOX, subject="Return",
                        body="I want to return my bike, order TB-1234, it is too big.",
                        message_id=message_id, date=T0)
            for address, name, message_id in CUSTOMERS]


@dataclass
class Counts:
    emails: int
    distinct: int
    workers: int
    seconds: float
    exit_codes: list[int]
    tracebacks: int
    stored: int
    quarantined: int
    crashed: list[str]
    """Emails quarantined for another reason than not being an email (each a bug), with the reason."""
    missing: int
    """Emails neither stored nor quarantined."""
    unfinished_runs: int
    unprocessed: int
    undelivered: int
    cases: int
    delivered: int

    @property
    def ok(self) -> bool:
        return (all(code == 0 for code in self.exit_codes) and not self.tracebacks and not self.crashed
                and not self.missing and not (self.unfinished_runs or self.unprocessed or self.undelivered))

    def summary(self) -> str:
        return (f"fuzz through `run`: {self.emails:,} hostile emails ({self.distinct:,} distinct) + {len(CUSTOMERS)} "
                f"customers' first emails, {self.workers} `case-agent run` processes, {self.seconds:.0f} s "
                f"(exit codes {self.exit_codes}); crashes: {len(self.crashed) + self.tracebacks} "
                f"({self.tracebacks} tracebacks in the logs, {len(self.crashed)} emails quarantined by an error); "
                f"stored {self.stored:,}, quarantined as not an email {self.quarantined:,}, neither {self.missing}; "
                f"blocked: {self.unfinished_runs} unfinished runs, {self.unprocessed} unprocessed emails, "
                f"{self.undelivered} undelivered replies; {self.cases:,} cases, {self.delivered:,} replies delivered")


def run_workers(folder: Path, db: str, workers: int, timeout: float = TIMEOUT_SECONDS,
                extra: tuple[str, ...] = ()) -> tuple[list[int], list[str]]:
    """``workers`` processes of ``case-agent run --once`` on the mailbox folder, started together;
    their exit codes and logs."""
    catalog = folder / "catalog.yaml"
    catalog.write_text(CATALOG_YAML, encoding="utf-8")
    (folder / "sent").mkdir(exist_ok=True)
    logs = [folder / f"worker-{n}.log" for n in range(workers)]
    command = [sys.executable, "-m", "agent_graph.cli", "run", "--once", "--mailbox", str(folder / "inbox"),
               "--smtp", str(folder / "sent"), "--db", db, "--catalog", str(catalog), *extra]
    processes = []
    for log in logs:
        with log.open("wb") as out:
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO))
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return codes, [log.read_text(encoding="utf-8", errors="replace") for log in logs]


def fuzz_service(folder: Path, db: str, count: int, workers: int = 2, first_seed: int = DEFAULT_SEED,
                 timeout: float = TIMEOUT_SECONDS) -> Counts:
    """Write the corpus to ``folder/inbox``, run the workers on ``db`` (empty), count."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    hostile = corpus(count, first_seed)
    for n, raw in enumerate(seed_emails()):
        (inbox / f"0-{n:03d}.eml").write_bytes(raw)
    for n, raw in enumerate(hostile):
        (inbox / f"1-{n:06d}.eml").write_bytes(raw)
    CaseStore(db).close()  # the schema, before the workers race to make it
    started = time.monotonic()
    codes, logs = run_workers(folder, db, workers, timeout)
    seconds = time.monotonic() - started
    return count_outcome(db, hostile, codes, logs, seconds, workers, len(list((folder / "sent").glob("*.eml"))))


def count_outcome(db: str, hostile: list[bytes], codes: list[int], logs: list[str], seconds: float,
                  workers: int, delivered: int) -> Counts:
    store = CaseStore(db, create=False)
    try:
        with store.engine.connect() as c:
            stored_ids = {row[0] for row in c.execute(select(messages.c.message_id)
                                                      .where(messages.c.direction == "inbound", messages.c.processed))}
            unprocessed = c.scalar(select(func.count()).select_from(messages).where(
                messages.c.direction == "inbound", messages.c.processed.is_(False))) or 0
            held = {digest: error for digest, error in c.execute(select(quarantine.c.digest, quarantine.c.error))}
        stored = quarantined = missing = 0
        crashed: list[str] = []
        distinct = set(hostile)
        for raw in distinct:
            error = held.get(raw_digest(raw))
            if error is not None:
                quarantined += error.startswith(f"{EmailParseError.__name__}: ")
                if not error.startswith(f"{EmailParseError.__name__}: "):
                    crashed.append(error.splitlines()[0][:300])
                continue
            try:
                message_id = parse_email(raw, own_addresses=[MAILBOX]).message_id
            except EmailParseError:
                missing += 1
                continue
            if message_id in stored_ids:
                stored += 1
            else:
                missing += 1
        return Counts(emails=len(hostile), distinct=len(distinct), workers=workers, seconds=seconds, exit_codes=codes,
                      tracebacks=sum(log.count("Traceback (most recent call last)") for log in logs),
                      stored=stored, quarantined=quarantined, crashed=crashed, missing=missing,
                      unfinished_runs=len(store.unfinished_runs()), unprocessed=unprocessed,
                      undelivered=len(store.undelivered()), cases=store.count_cases(), delivered=delivered)
    finally:
        store.close()


@contextmanager
def _throwaway_postgres() -> Iterator[str]:
    from tests.pgserver import PostgresCluster

    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster.new_database()
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--db", help="an empty database (default: a throwaway PostgreSQL cluster)")
    parser.add_argument("--folder", type=Path, help="where the mailbox, sent mail and logs go (default: a temporary one)")
    args = parser.parse_args(argv)
    import logging
    import tempfile

    logging.basicConfig(level=logging.ERROR)  # the counting re-parses the corpus: no warning per odd email
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the throwaway cluster is stopped too

    folder = args.folder or Path(tempfile.mkdtemp(prefix="case-agent-fuzz-"))
    with (_throwaway_postgres() if args.db is None else _given(args.db)) as db:
        counts = fuzz_service(folder, db, args.emails, args.workers, args.seed)
    print(counts.summary())
    for error in counts.crashed[:20]:
        print(f"  crash: {error}")
    print(f"mailbox, sent mail and the workers' logs: {folder}")
    return 0 if counts.ok else 1


@contextmanager
def _given(db: str) -> Iterator[str]:
    yield db


if __name__ == "__main__":
    sys.exit(main())
