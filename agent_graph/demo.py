"""The demo: play a scripted inbox against a fresh SQLite store and show each case's journey.

The scripted inbox is a folder of recorded threads (formats.md §2): customer emails, their
replies, representative decisions and the passing of time. Unlike an eval, every thread runs
through one store and the SQLite checkpointer, as in production.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agent_graph.brain.offline import OfflineBrain
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.errors import StoreUnavailable
from agent_graph.replay import RecordedThread, ThreadRunner, Turn, TurnReport, catalog_for, load_thread, thread_files
from agent_graph.service import CaseAgent, checkpoint_path, open_checkpointer
from agent_graph.store import CaseStore
from agent_graph.store.repository import database_url, sqlite_file


def fresh_sqlite(db_url: str) -> None:
    """Remove an earlier demo's files so every demo starts from an empty store."""
    for name in (sqlite_file(db_url), checkpoint_path(db_url)):
        if name:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)


def run_demo(console: Console, inbox: Path, db_url: str) -> bool:
    started = time.perf_counter()
    fresh_sqlite(db_url)
    store = CaseStore(db_url)
    shown = database_url(db_url).render_as_string(hide_password=True)
    if store.count_cases():  # a server's database is not replaced: the demo's case numbers would not match
        store.close()
        raise StoreUnavailable(f"the demo needs an empty database, and {shown} holds cases already")
    brain = OfflineBrain()
    all_ok = True
    with open_checkpointer(db_url) as checkpointer:
        for path in thread_files(inbox):
            thread = load_thread(path)
            catalog = catalog_for(thread, path)
            clock = FixedClock(datetime(2026, 1, 1))
            agent = CaseAgent(Context(db_url=db_url, catalog=catalog, store=store, clock=clock, brain_engine=brain,
                                      automation=dict(thread.automation)), checkpointer)
            runner = ThreadRunner(thread, catalog, agent, clock)
            reports = runner.run()
            all_ok &= all(r.ok for r in reports)
            print_journey(console, thread, reports, runner.case_id, store)
    print_cases(console, store)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s; store: {shown} "
                  f"(try: case-agent cases --db {shown}; case-agent show CAS-000001 --db {shown})")
    store.close()
    return all_ok


def print_journey(console: Console, thread: RecordedThread, reports: list[TurnReport], case_id: int | None,
                  store: CaseStore) -> None:
    number = store.case(case_id).number if case_id else "(no case)"
    table = Table("#", "when", "event", "action", "email", "status", "as scripted",
                  title=f"{number} — {thread.description or thread.id}", title_justify="left")
    for turn, report in zip(thread.turns, reports, strict=True):
        when = turn.at.replace("T", " ")[:16] if turn.at else (f"+{_days(turn.advance)}" if turn.advance else "")
        table.add_row(str(report.turn), when, _event(turn),
                      report.actual["action"] or "—", _email(report), report.actual["status"] or "—",
                      "✓" if report.ok else "✗ " + ", ".join(f.key for f in report.failures))
    console.print(table)


def _event(turn: Turn) -> str:
    if turn.email is not None:
        sender = turn.email.from_.split("<")[-1].rstrip(">")
        return f"email from {sender}: “{turn.email.subject}”"
    if turn.review is not None:
        return f"representative: {turn.review.type}" + (f" — {turn.review.text}" if turn.review.text else "")
    return f"clock moves {_days(turn.advance)}" if turn.advance else "clock moves"


def _days(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days and not delta.seconds else str(delta)


def _email(report: TurnReport) -> str:
    outbound = report.actual["outbound"]
    if outbound == "none":
        return "—"
    return f"{outbound}: {report.actual['subject']}"


def print_cases(console: Console, store: CaseStore) -> None:
    table = Table("case", "status", "LOB", "intent", "customer", "queue", title="All cases")
    for case in store.list_cases():
        table.add_row(case.number, case.status, case.lob, case.intent or "—", case.customer_email, case.queue or "")
    console.print(table)
