"""Claims: which worker runs an email, and a case, right now, when several processes share a store.

A worker claims an email when it stores it (or takes over a stored one nobody runs) and a case
when it registers the case's run (``active_runs``, one row per case); it lets go by finishing
(the email is marked processed, the run row removed) or, when a run raises, by
:meth:`~agent_graph.store.CaseStore.release_claims`. A claim is a lease on the wall clock (the
agent's own clock may be fixed or moved by ``tick --now``): a worker that died without letting
go is taken over when its lease runs out, or at once when it was a process on this host that no
longer exists (so the next command resumes a killed run, as ``recover`` promises).

The ``run`` service's workers (``agent_graph.runner``) take stored emails from a queue (the oldest
unprocessed email nobody holds, and never a case's later email before its earlier one), deliver
outbox emails they claimed, fetch a mailbox only while they own it, and tick the clock only on
their turn. Their claims are short (:data:`SERVICE_LEASE`) and renewed by a :class:`Heartbeat`
while the process lives, so another machine takes over a dead worker's work within a minute.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Self

from sqlalchemy.exc import SQLAlchemyError

from agent_graph.clock import SystemClock
from agent_graph.errors import CaseAgentError

log = logging.getLogger(__name__)

#: Longer than any run (a language model that is slow to answer included): for commands that
#: claim without a heartbeat (``process``, ``review``, ``tick``).
LEASE = timedelta(minutes=15)
#: The ``run`` service's leases: renewed every HEARTBEAT while the worker lives.
SERVICE_LEASE = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=15)

_HOST = socket.gethostname()


@dataclass(frozen=True, slots=True)
class Claim:
    """Who claims, when (wall clock), and until when the claim holds unless renewed."""

    owner: str
    at: datetime
    until: datetime


class Claimant:
    """One ``CaseAgent``: each of its threads claims under its own name ``host:pid:agent:thread``."""

    def __init__(self, lease: timedelta = LEASE) -> None:
        self.prefix = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        """Every claim of this claimant's threads starts with it (a heartbeat renews them all)."""
        self.lease = lease
        self._clock = SystemClock()

    @property
    def owner(self) -> str:
        return f"{self.prefix}:{threading.get_ident()}"

    def claim(self) -> Claim:
        now = self._clock.now()
        return Claim(owner=self.owner, at=now, until=now + self.lease)


class Renewing(Protocol):
    def renew_claims(self, prefix: str, until: datetime) -> None: ...

    def release_dead_claims(self) -> list[str]: ...


class Heartbeat:
    """A thread that, every :data:`HEARTBEAT`, renews the leases of everything a claimant holds (a
    long run keeps its email and case) and lets go of what dead processes on this host held."""

    def __init__(self, store: Renewing, claimant: Claimant, every: timedelta = HEARTBEAT) -> None:
        self._store = store
        self._claimant = claimant
        self._every = every.total_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def __enter__(self) -> Self:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        self._store.renew_claims(self._claimant.prefix, self._claimant.claim().until)
        for owner in self._store.release_dead_claims():
            log.warning("took back what the dead worker %s held", owner)

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.beat()
            except CaseAgentError as exc:  # the database away for a moment: the next beat tries again
                log.error("heartbeat: %s", exc)
            except SQLAlchemyError as exc:
                log.error("heartbeat: the case database: %s", exc)


def can_take(holder: str | None, held_until: datetime | None, claim: Claim) -> bool:
    """Whether ``claim`` may take what ``holder`` holds: nobody holds it, the claimant does
    already, the lease ran out, or the holder was a process on this host that is gone."""
    if holder is None or holder == claim.owner:
        return True
    if held_until is not None and held_until <= claim.at:
        return True
    return not process_alive(holder)


def process_alive(owner: str) -> bool:
    """False only for a claim of a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != _HOST or not pid.isdigit():
        return True  # another machine's worker: only its lease tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
