"""Admission control for the agent's Python work when many cases run on threads.

CPython runs one thread's Python code at a time (the GIL). When 32 cases are in flight, every
SQLite call releases the GIL and wakes another thread, and the handovers cost CPU: the fewer
threads admitted at a time, the less CPU the same work takes (``case-agent bench``'s concurrency
figure; README, "Performance"). So :class:`~agent_graph.service.CaseAgent` admits one thread at a time into agent
code (as many as there are cores on a free-threaded Python), and code that waits on something
outside the process (a language model answers in hundreds of milliseconds) does it inside
:func:`waiting`, which hands the slot back meanwhile: the waits still overlap freely.

A slot is taken only at the agent's entry points and handed back only around such waits, which
never happen inside a store transaction, so a thread waiting for a slot holds no lock that a
slot holder needs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


def default_slots() -> int:
    """One under the GIL (the least CPU, see above); the number of cores on a free-threaded Python."""
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return 1 if gil else os.cpu_count() or 1


class CpuSlots:
    """At most ``slots`` threads inside :meth:`held` at once; re-entrant within a thread."""

    def __init__(self, slots: int | None = None) -> None:
        self.slots = slots or default_slots()
        self._semaphore = threading.BoundedSemaphore(self.slots)
        self._depth = threading.local()

    def _held_here(self) -> int:
        return getattr(self._depth, "n", 0)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Run the block in a slot (waiting for one if all are taken)."""
        depth = self._held_here()
        if depth == 0:
            self._semaphore.acquire()
        self._depth.n = depth + 1
        token = _active.set(self)
        try:
            yield
        finally:
            _active.reset(token)
            self._depth.n = depth
            if depth == 0:
                self._semaphore.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give this thread's slot back for the block, then take one again (a no-op without one)."""
        depth = self._held_here()
        if depth == 0:
            yield
            return
        self._depth.n = 0
        self._semaphore.release()
        try:
            yield
        finally:
            self._semaphore.acquire()
            self._depth.n = depth


_active: ContextVar[CpuSlots | None] = ContextVar("case_agent_cpu_slots", default=None)


@contextmanager
def waiting() -> Iterator[None]:
    """Mark a wait on the outside world (a model call, a back-off sleep): the slot is free meanwhile."""
    slots = _active.get()
    if slots is None:
        yield
        return
    with slots.released():
        yield
