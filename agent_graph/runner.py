"""``case-agent run``: the always-on service over a mailbox.

One loop: fetch new mail and process each email exactly as ``process`` does (``CaseAgent.take_in``),
deliver the outbox (``delivery.py``), run the clock (due follow-ups and closures) every
``tick_every``, then wait for new mail (IMAP IDLE, or polling). The reading position is stored
after each email, so a restart continues where the last run stopped; Message-ID idempotency and
crash recovery (``CaseAgent.recover``) make a re-read email a no-op.

SIGTERM or SIGINT: the email in hand is finished, nothing new is fetched, the process exits 0.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from pydantic import BaseModel

from agent_graph.dataverse.sync import CaseSync
from agent_graph.delivery import Deliverer
from agent_graph.mail import FetchedEmail, Inbox, MailboxUnavailable, Position, Sender
from agent_graph.service import CaseAgent

log = logging.getLogger(__name__)

LONGEST_RECONNECT_WAIT = 60.0
FIRST_RECONNECT_WAIT = 0.5
DELIVERY_CHECK = 30.0
"""Longest wait between two looks at the outbox (drafts approved with ``review`` go out then)."""


class RunSettings(BaseModel):
    once: bool = False
    tick_every: float = 300.0
    poll: float | None = None
    """Seconds between two looks at the mailbox when not using IDLE (None: IDLE when offered, else 60)."""
    first_retry: float = 30.0


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
        self.deliverer = Deliverer(agent.env, sender, timedelta(seconds=settings.first_retry))
        self.stopping = False
        self._interruptible = False
        self._next_tick = 0.0
        self._reconnect_wait = FIRST_RECONNECT_WAIT

    # --- signals ---------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("stop requested (%s): finishing the email in hand", signal.Signals(signum).name)
        self.stopping = True
        if self._interruptible:
            raise _Stop

    def _install_signals(self) -> dict[int, Any]:
        """Our handlers; the previous ones are returned, to be put back when the service stops.
        None outside the main thread (Python runs signal handlers there only): set ``stopping``."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> int:
        """0 when stopped by a signal or, with ``once``, when everything waiting was handled;
        1 with ``once`` when the mailbox could not be read."""
        previous = self._install_signals()
        log.info("service started: reading %s, delivering through %s", self.inbox.name, self.sender.name)
        try:
            for result in self.agent.recover():
                log.info("resumed an unfinished run of case %s", result.case_number)
            while not self.stopping:
                fetched = self._fetch_and_process()
                self._deliver()
                if not self.stopping:
                    self._tick_if_due()
                if self.settings.once:
                    return 0 if fetched else 1
                if not self.stopping:
                    self._wait(fetched)
        finally:
            self.inbox.close()
            self.sender.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("service stopped")
        return 0

    def _fetch_and_process(self) -> bool:
        """Process every email waiting; False when the mailbox could not be read."""
        name = self.inbox.name
        stored = self.store.mailbox_position(name)
        after = Position(epoch=stored.epoch, position=stored.position) if stored else None
        try:
            backlog = self.inbox.pending(after)
            self.store.set_mailbox_position(name, last_fetch_at=self.agent.env.clock.now(), backlog=backlog)
            for email in self.inbox.fetch(after):
                if self.stopping:
                    break
                self._process(email)
                backlog = max(backlog - 1, 0)
                self.store.set_mailbox_position(name, epoch=email.at.epoch, position=email.at.position,
                                                backlog=backlog)
        except MailboxUnavailable as exc:
            self.store.set_mailbox_position(name, last_error=str(exc), last_error_at=self.agent.env.clock.now())
            log.error("mailbox %s: %s (next try in %.1fs)", name, exc, self._reconnect_wait)
            return False
        self._reconnect_wait = FIRST_RECONNECT_WAIT
        return True

    def _process(self, email: FetchedEmail) -> None:
        result = self.agent.take_in(email.raw, email.source)
        outcome = result.outcome
        if result.quarantined is not None:
            log.warning("email %s: quarantined as #%s (case-agent quarantine show %s)", email.source,
                        result.quarantined, result.quarantined)
        else:
            log.info("email %s: case=%s action=%s outbound=%s%s", email.source, result.case_number or "-",
                     outcome.action.value if outcome.action else "none", outcome.outbound.value,
                     " (duplicate)" if result.duplicate else "")
        self._deliver()  # the reply goes out now, not after the whole batch
        self.inbox.done(email)

    def _deliver(self) -> None:
        self.deliverer.deliver_due()
        if self.cases is not None:
            self.cases.sync()  # a Dataverse failure leaves its operations waiting; it never raises here

    def _tick_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self.settings.tick_every
        for result in self.agent.tick():
            log.info("clock: case=%s action=%s outbound=%s", result.case_number,
                     result.outcome.action.value if result.outcome.action else "none",
                     result.outcome.outbound.value)
        self._deliver()

    def _wait(self, fetched: bool) -> None:
        """Until new mail may be there, the next tick, or the next look at the outbox; after a
        mailbox failure, a back-off that doubles up to LONGEST_RECONNECT_WAIT."""
        seconds = max(0.0, min(self._next_tick - time.monotonic(), DELIVERY_CHECK))
        self._interruptible = True
        try:
            if self.stopping:
                return
            if not fetched:
                time.sleep(self._reconnect_wait)
                self._reconnect_wait = min(self._reconnect_wait * 2, LONGEST_RECONNECT_WAIT)
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
