"""Admission control: at most N threads in agent code, a wait frees the slot, nesting is safe."""

from __future__ import annotations

import threading
import time

import pytest

from agent_graph.cpu_slots import CpuSlots, waiting

PATIENCE = 10  # seconds; only reached when the behaviour under test is broken
GRACE = 0.3  # seconds given to a thread that must NOT get in; a correct primitive never needs it

# A broken primitive may deadlock the test's own thread: end the run with the threads' stacks.
pytestmark = pytest.mark.timeout(60, method="thread")


def _until(condition, patience: float = PATIENCE) -> bool:
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_no_more_threads_inside_than_slots():
    slots = CpuSlots(2)
    inside, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        nonlocal inside, most
        with slots.held():
            with lock:
                inside += 1
                most = max(most, inside)
            release.wait(PATIENCE)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        assert _until(lambda: inside == 2), "two slots, but fewer than two threads got in"
        time.sleep(GRACE)  # the six others are all trying: none may get in
        assert most == 2
    finally:
        release.set()
        for t in threads:
            t.join(PATIENCE)
    assert most == 2 and inside == 0


def test_a_wait_hands_the_slot_to_another_thread():
    slots = CpuSlots(1)
    first_waiting, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with slots.held(), waiting():
            first_waiting.set()
            assert second_done.wait(PATIENCE), "the slot was not free while the first thread waited"

    def second() -> None:
        assert first_waiting.wait(PATIENCE)
        with slots.held():
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE)
    assert second_done.is_set()


def test_nested_entry_in_one_thread_does_not_wait_for_itself():
    slots = CpuSlots(1)
    done = threading.Event()

    def nested() -> None:
        with slots.held(), slots.held(), waiting(), slots.held():
            done.set()

    thread = threading.Thread(target=nested)
    thread.start()
    thread.join(PATIENCE)
    assert done.is_set()


def test_waiting_outside_the_agent_is_a_no_op():
    with waiting():
        pass
    slots = CpuSlots(1)
    with slots.released():  # released() without a slot must not add one (nor over-release: ValueError)
        pass
    entered = threading.Event()

    def other() -> None:
        with slots.held():
            entered.set()

    with slots.held():
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(GRACE), "a second thread got into a single slot"
    assert entered.wait(PATIENCE), "the slot was not handed on when it was left"
    thread.join(PATIENCE)
