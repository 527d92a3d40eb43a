"""A graph run's background work done in the thread that runs it, instead of a new thread per run.

LangGraph hands a run's checkpoint writes to a thread pool that it creates when the run starts and
shuts down when it ends (``langgraph.pregel._executor.BackgroundExecutor``, through
``langchain_core``'s ``get_executor_for_config``): a new OS thread for every email, whose start,
hand-overs and join each wait for the interpreter lock. With many cases on threads those waits
were most of the time a case held its CPU slot without running (README, "Performance").

Inside :func:`in_calling_thread`, a run configured with ``max_concurrency`` 1 gets instead an
executor that runs each piece of work in the calling thread as it is handed over. ``CaseAgent``'s
runs are such runs: the graph runs one node at a time and saves its checkpoint when the run ends
(``durability="exit"``), so the writes run in the order the one worker thread ran them, and had to
finish before the run returned all the same. Other runs (the LangGraph server's, any other
``max_concurrency``) get LangGraph's own pool as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from langgraph.pregel import _executor

P = ParamSpec("P")
T = TypeVar("T")

_langgraphs_own = _executor.get_executor_for_config  # type: ignore[attr-defined]  # imported there, not exported
_inline: ContextVar[bool] = ContextVar("case_agent_background_in_calling_thread", default=False)


class CallingThreadExecutor(Executor):
    """Runs each submitted call at once, in the submitting thread; its future is done on return
    (with the call's exception, as a pool's worker would set it)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the future, as a pool's worker does
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


_CALLING_THREAD = CallingThreadExecutor()


@contextmanager
def _executor_for(config: Any) -> Iterator[Executor]:
    """What ``get_executor_for_config`` yields to ``BackgroundExecutor`` (see the module's text)."""
    if _inline.get() and (config or {}).get("max_concurrency") == 1:
        yield _CALLING_THREAD
        return
    with _langgraphs_own(config) as executor:
        yield executor


_executor.get_executor_for_config = _executor_for  # type: ignore[attr-defined]  # the name BackgroundExecutor calls


@contextmanager
def in_calling_thread() -> Iterator[None]:
    """Graph runs in the block with ``max_concurrency`` 1 do their background work in this thread."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)
