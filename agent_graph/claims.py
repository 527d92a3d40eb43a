"""Claims: which worker runs an email, and a case, right now, when several processes share a store.

A worker claims an email when it stores it (or takes over a stored one nobody runs) and a case
when it registers the case's run (``active_runs``, one row per case); it lets go by finishing
(the email is marked processed, the run row removed) or, when a run raises, by
:meth:`~agent_graph.store.CaseStore.release_claims`. A claim is a lease on the wall clock (the
agent's own clock may be fixed or moved by ``tick --now``): a worker that died without letting
go is taken over when its lease runs out, or at once when it was a process on this host that no
longer exists (so the next command resumes a killed run, as ``recover`` promises).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent_graph.clock import SystemClock

#: Longer than any run (a language model that is slow to answer included).
LEASE = timedelta(minutes=15)

_HOST = socket.gethostname()


@dataclass(frozen=True, slots=True)
class Claim:
    """Who claims, when (wall clock), and until when the claim holds unless renewed."""

    owner: str
    at: datetime
    until: datetime


class Claimant:
    """One ``CaseAgent``: each of its threads claims under its own name ``host:pid:agent:thread``."""

    def __init__(self) -> None:
        self._prefix = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._clock = SystemClock()

    @property
    def owner(self) -> str:
        return f"{self._prefix}:{threading.get_ident()}"

    def claim(self) -> Claim:
        now = self._clock.now()
        return Claim(owner=self.owner, at=now, until=now + LEASE)


def can_take(holder: str | None, held_until: datetime | None, claim: Claim) -> bool:
    """Whether ``claim`` may take what ``holder`` holds: nobody holds it, the claimant does
    already, the lease ran out, or the holder was a process on this host that is gone."""
    if holder is None or holder == claim.owner:
        return True
    if held_until is not None and held_until <= claim.at:
        return True
    return not _process_alive(holder)


def _process_alive(owner: str) -> bool:
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
