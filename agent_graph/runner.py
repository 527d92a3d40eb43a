"""``case-agent run``: the always-on service over a mailbox, in one worker process or many.

A worker runs:
- **the fetcher** (the main thread), while this worker owns the mailbox (one worker fetches a
  mailbox at a time: ``CaseStore.own_mailbox``): fetch new mail and store each email, threaded to
  its case, for the workers to run (``CaseAgent.store_email``); the reading position is stored after
  each email, so a restart continues where the last fetch stopped (Message-ID idempotency makes a
  re-read email a no-op). A worker that does not own the mailbox looks again every OWNER_CHECK
  seconds and takes it over when its owner died;
- **``concurrency`` runners** (threads): each claims the next stored email nobody runs
  (``CaseAgent.take_next``: every worker of every machine shares this queue) and runs it exactly as
  ``process`` does, then delivers the outbox (``delivery.py``);
- **the clock** every ``tick_every`` (due follow-ups and closures), on its turn: the workers take
  turns (``CaseStore.take_turn``), so the clock runs once per period, not once per worker;
- **a heartbeat** that renews this worker's leases (``claims.py``) and takes back what dead
  workers on this host held.

``run --workers N`` starts N such processes under a supervisor (:func:`supervise`) that restarts
a worker that died; any number of ``run`` processes, on any number of machines, may share one
database.

SIGTERM or SIGINT: the emails in hand are finished, nothing new is fetched or claimed, the process
exits 0.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

from pydantic import BaseModel

from agent_graph.claims import SERVICE_LEASE, Heartbeat
from agent_graph.clock import SystemClock
from agent_graph.dataverse.sync import CaseSync
from agent_graph.delivery import Deliverer
from agent_graph.mail import Inbox, MailboxUnavailable, Position, Sender
from agent_graph.service import CaseAgent

log = logging.getLogger(__name__)

LONGEST_RECONNECT_WAIT = 60.0
FIRST_RECONNECT_WAIT = 0.5
DELIVERY_CHECK = 30.0
"""Longest wait between two looks at the outbox (drafts approved with ``review`` go out then)."""
QUEUE_CHECK = 1.0
"""Longest wait of an idle runner before it looks at the queue again (another worker may have stored mail)."""
OWNER_CHECK = 2.0
"""Seconds between two tries of a worker that does not own the mailbox to take it over."""
CLOCK_TURN = "clock"


class RunSettings(BaseModel):
    once: bool = False
    tick_every: float = 300.0
    poll: float | None = None
    """Seconds between two looks at the mailbox when not using IDLE (None: IDLE when offered, else 60)."""
    first_retry: float = 30.0
    concurrency: int = 8
    """Emails run at once by this worker (threads; the agent's Python runs one at a time, see cpu_slots.py)."""


class _Stop(Exception):
    """Raised by the signal handler to end a wait; never while an email is in hand."""


class MailService:
    def __init__(self, agent: CaseAgent, inbox: Inbox, sender: Sender, settings: RunSettings,
                 cases: CaseSync | None = None):
        self.agent = agent
        self.cases = cases
        """``--cases dataverse``: the cases' system of record, told after each email and delivery."""
        self.store = agent.env.store
        self.inbox = inbox
        self.sender = sender
        self.settings = settings
        agent.claimant.lease = SERVICE_LEASE  # renewed by the heartbeat while this worker lives
        self.deliverer = Deliverer(agent.env, sender, timedelta(seconds=settings.first_retry), agent.claimant)
        self.stopping = False
        self._interruptible = False
        self._next_tick = 0.0
        self._reconnect_wait = FIRST_RECONNECT_WAIT
        self._owner = False
        self._stored = threading.Event()
        self._sending = threading.Lock()  # one connection to the mail server, one thread at a time
        self.failed = False

    # --- signals ---------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("stop requested (%s): finishing the emails in hand", signal.Signals(signum).name)
        self._stop()
        if self._interruptible:
            raise _Stop

    def _stop(self) -> None:
        self.stopping = True
        self._stored.set()

    def _install_signals(self) -> dict[int, Any]:
        """Our handlers; the previous ones are returned, to be put back when the service stops.
        None outside the main thread (Python runs signal handlers there only): set ``stopping``."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        """0 when stopped by a signal or, with ``once``, when everything waiting was handled;
        1 with ``once`` when the mailbox could not be read, and when a runner failed."""
        previous = self._install_signals()
        log.info("service started: reading %s, delivering through %s, %s email(s) at once", self.inbox.name,
                 self.sender.name, self.settings.concurrency)
        runners: list[threading.Thread] = []
        try:
            with Heartbeat(self.store, self.agent.claimant):
                for result in self.agent.recover():
                    log.info("resumed an unfinished run of case %s", result.case_number)
                if self.settings.once:
                    fetched = self._fetch()
                    self._run_queue()
                    self._deliver()
                    self._tick_if_due()
                    return 0 if fetched and not self.failed else 1
                runners = [threading.Thread(target=self._runner, name=f"runner-{n}")
                           for n in range(self.settings.concurrency)]
                for runner in runners:
                    runner.start()
                while not self.stopping:
                    fetched = self._fetch()
                    self._deliver()
                    if not self.stopping:
                        self._tick_if_due()
                    if not self.stopping:
                        self._wait(fetched)
        finally:
            self._stop()
            for runner in runners:
                runner.join()
            self._deliver()  # what the last runs sent
            if self._owner:
                self.store.disown_mailbox(self.inbox.name, self.agent.claimant.claim())
            self.inbox.close()
            self.sender.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("service stopped")
        return 1 if self.failed else 0

    def _fetch(self) -> bool:
        """Store every email waiting, if this worker owns the mailbox; False when it could not be read."""
        self._owner = self.store.own_mailbox(self.inbox.name, self.agent.claimant.claim())
        if not self._owner:
            return True
        name = self.inbox.name
        stored = self.store.mailbox_position(name)
        after = Position(epoch=stored.epoch, position=stored.position) if stored else None
        try:
            backlog = self.inbox.pending(after)
            self.store.set_mailbox_position(name, last_fetch_at=self.agent.env.clock.now(), backlog=backlog)
            for email in self.inbox.fetch(after):
                if self.stopping:
                    break
                result = self.agent.store_email(email.raw, email.source)
                if result.quarantined is not None:
                    log.warning("email %s: quarantined as #%s (case-agent quarantine show %s)", email.source,
                                result.quarantined, result.quarantined)
                self._stored.set()
                self.inbox.done(email)
                backlog = max(backlog - 1, 0)
                self.store.set_mailbox_position(name, epoch=email.at.epoch, position=email.at.position,
                                                backlog=backlog)
        except MailboxUnavailable as exc:
            self.store.set_mailbox_position(name, last_error=str(exc), last_error_at=self.agent.env.clock.now())
            log.error("mailbox %s: %s (next try in %.1fs)", name, exc, self._reconnect_wait)
            return False
        self._reconnect_wait = FIRST_RECONNECT_WAIT
        return True

    def _runner(self) -> None:
        with self._failing_stops():
            while not self.stopping:
                if not self._take_next():
                    self._stored.wait(QUEUE_CHECK)
                    self._stored.clear()

    def _run_queue(self) -> None:
        """Every email in the queue, ``concurrency`` at a time (``once``)."""
        runners = [threading.Thread(target=self._drain, name=f"runner-{n}") for n in range(self.settings.concurrency)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()

    def _drain(self) -> None:
        with self._failing_stops():
            while not self.stopping and self._take_next():
                pass

    @contextmanager
    def _failing_stops(self) -> Iterator[None]:
        """A runner that fails beyond one email (the database gone) stops the worker, which exits 1:
        its supervisor (``--workers``, systemd, Compose) starts it again, and its claims lapse."""
        try:
            yield
        except Exception:
            log.exception("a runner failed; stopping this worker")
            self.failed = True
            self._stop()

    def _take_next(self) -> bool:
        """Run the next email of the queue and deliver what it sent; False when none waits."""
        taken = self.agent.take_next()
        if taken is None:
            return False
        message, result = taken
        source = message.source or message.message_id
        if result.quarantined is not None:
            log.warning("email %s: quarantined as #%s (case-agent quarantine show %s)", source,
                        result.quarantined, result.quarantined)
        else:
            outcome = result.outcome
            log.info("email %s: case=%s action=%s outbound=%s%s", source, result.case_number or "-",
                     outcome.action.value if outcome.action else "none", outcome.outbound.value,
                     " (duplicate)" if result.duplicate else "")
        self._deliver()  # the reply goes out now, not after the whole batch
        return True

    def _deliver(self) -> None:
        with self._sending:
            self.deliverer.deliver_due()
            if self.cases is not None and self._owner:  # one worker, the mailbox's owner, tells Dataverse
                self.cases.sync()  # a Dataverse failure leaves its operations waiting; it never raises here

    def _tick_if_due(self) -> None:
        """The clock, when its period is over and (running on) it is this worker's turn; with ``once`` always."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self.settings.tick_every
        wall = SystemClock().now()
        if not self.settings.once and not self.store.take_turn(
                CLOCK_TURN, self.agent.claimant.owner, wall,
                wall + timedelta(seconds=self.settings.tick_every) - OWNER_SLACK):
            return
        for result in self.agent.tick():
            log.info("clock: case=%s action=%s outbound=%s", result.case_number,
                     result.outcome.action.value if result.outcome.action else "none",
                     result.outcome.outbound.value)
        self._deliver()

    def _wait(self, fetched: bool) -> None:
        """Until new mail may be there, the next tick, or the next look at the outbox; after a
        mailbox failure, a back-off that doubles up to LONGEST_RECONNECT_WAIT. A worker that does
        not own the mailbox looks again after OWNER_CHECK."""
        seconds = max(0.0, min(self._next_tick - time.monotonic(), DELIVERY_CHECK))
        self._interruptible = True
        try:
            if self.stopping:
                return
            if not fetched:
                time.sleep(self._reconnect_wait)
                self._reconnect_wait = min(self._reconnect_wait * 2, LONGEST_RECONNECT_WAIT)
                return
            if not self._owner:
                time.sleep(min(seconds, OWNER_CHECK))
                return
            if self.settings.poll is not None:
                seconds = min(seconds, self.settings.poll)
            self.inbox.wait(seconds)
        except _Stop:
            return
        except MailboxUnavailable as exc:
            log.error("mailbox %s: %s", self.inbox.name, exc)
        finally:
            self._interruptible = False


OWNER_SLACK = timedelta(seconds=1)
"""A clock turn ends this much before the period: the next turn is not missed by a hair."""

# --- many worker processes ------------------------------------------------------------------------

RESTART_WAIT = 1.0
"""Seconds before restarting a worker that died; doubling, up to LONGEST_RESTART_WAIT, while it
keeps exiting with an error within STABLE_AFTER of its start."""
LONGEST_RESTART_WAIT = 30.0
STABLE_AFTER = 10.0
_PR_SET_PDEATHSIG = 1


def supervise(workers: int, work: Callable[[], int], once: bool = False) -> int:
    """Run ``work`` (a worker's whole life, returning its exit code) in ``workers`` processes, and
    restart one that dies (unless ``once``: then the largest exit code is returned). SIGTERM or
    SIGINT is passed on to the workers, which finish the emails in hand; then 0."""
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()
    processes: dict[int, tuple[multiprocessing.process.BaseProcess, float]] = {}
    waits = dict.fromkeys(range(workers), RESTART_WAIT)

    def start(slot: int) -> None:
        process = context.Process(target=_worker_main, args=(work,), name=f"case-agent-worker-{slot}")
        process.start()
        processes[slot] = (process, time.monotonic())
        log.info("worker %s started (pid %s)", slot, process.pid)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        for process, _started in processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    codes: list[int] = []
    try:
        for slot in range(workers):
            start(slot)
        while processes:
            for slot, (process, started) in list(processes.items()):
                process.join(timeout=0.2 / workers)
                if process.exitcode is None:
                    continue
                del processes[slot]
                codes.append(process.exitcode)
                if stopping.is_set() or once:
                    continue
                died = (f"was killed by {signal.Signals(-process.exitcode).name}" if process.exitcode < 0
                        else f"exited with code {process.exitcode}")
                # A worker that fails as it starts (a setting, the database away) is not restarted in a busy loop.
                quick = process.exitcode > 0 and time.monotonic() - started < STABLE_AFTER
                wait = waits[slot] if quick else RESTART_WAIT
                log.warning("worker %s (pid %s) %s: restarting it in %.0fs", slot, process.pid, died, wait)
                waits[slot] = min(wait * 2, LONGEST_RESTART_WAIT) if quick else RESTART_WAIT
                if not stopping.wait(wait):
                    start(slot)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if once:
        return max((abs(code) for code in codes), default=0)
    return 0


def _worker_main(work: Callable[[], int]) -> None:
    """A worker process: dies with its supervisor (Linux), and runs ``work``."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a worker outlives a supervisor killed by SIGKILL until it is stopped
    raise SystemExit(work())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.levelno >= logging.ERROR:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """INFO lines from the service and delivery (no bodies, no secrets); everything at INFO when the
    root logger is at INFO already (``case-agent -v run``)."""
    verbose = logging.getLogger().level <= logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in (__name__, "agent_graph.delivery", "agent_graph.mail", "agent_graph.dataverse",
                 "agent_graph.microsoft"):
        logging.getLogger(name).setLevel(logging.INFO)
