"""The web console as a representative uses it: Debian's chromium driven by Playwright, against the
console served by uvicorn on 127.0.0.1 (a free port) over a real SQLite store.

Sign in, open the inbox, open a case, edit and send a draft, ignore a draft with a reason, edit a
field. With ``CONSOLE_SCREENSHOTS=FOLDER`` it also saves the inbox and a case page there (the
README's pictures: ``docs/img/``)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from agent_graph.console.app import create_app
from agent_graph.console.users import add_user
from agent_graph.domain import CaseStatus, OutboxStatus
from tests.conftest import email
from tests.test_review import REPAIR

pytestmark = pytest.mark.timeout(300)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "correct horse battery"
sync_api = pytest.importorskip("playwright.sync_api")

if not Path(CHROMIUM).exists():  # .ci/run installs it; CI=1 makes a missing browser a failure
    if os.environ.get("CI"):
        raise RuntimeError(f"no chromium at {CHROMIUM}: apt-get install chromium")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def console_url(make_agent, store, clock) -> Iterator[str]:
    agent = make_agent()
    for n, (body, subject) in enumerate([(REPAIR, "Brake repair"),
                                         ("My chain snapped, can you repair it on 12 March 2026? Kim", "Chain"),
                                         ("When will my bike be delivered? Order TB-1234.", "Delivery")], start=1):
        agent.process_email(email(body, subject=subject, n=n, sender=f"Customer {n} <c{n}@example.net>"))
    add_user(store, "alice", PASSWORD, clock.now())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(agent, "browser test secret"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def page(console_url) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(base_url=console_url, viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_a_representative_works_through_the_console(page, store):
    expect = sync_api.expect
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # the inbox: three cases, two waiting for review; the filter narrows it (htmx, no reload)
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.locator("#cases tbody tr")).to_have_count(3)
    page.get_by_label("waiting for review").check()
    expect(page.locator("#cases tbody tr")).to_have_count(2)
    assert "review=true" in page.url
    _screenshot(page, "console-inbox.png")

    # a case: the draft with its template; edit the body and send
    page.get_by_role("link", name="CAS-000001").click()
    expect(page.get_by_role("heading", name="Draft waiting for review")).to_be_visible()
    _screenshot(page, "console-case.png", full_page=True)
    page.get_by_label("Subject").fill("Your repair is booked")
    page.get_by_label("Body").fill("Hello,\n\nSee you on 10 March.\n\nThe workshop")
    page.get_by_role("button", name="Send with my edits").click()
    expect(page.get_by_role("status")).to_contain_text("edit")
    sent = store.outbox(1)[-1]
    assert (sent.status, sent.subject, sent.edited) == (OutboxStatus.SENT, "Your repair is booked", True)
    assert sent.body == "Hello,\n\nSee you on 10 March.\n\nThe workshop"

    # feedback on the agent's email, swapped in place by htmx
    page.get_by_label("comment on message:").first.fill("good tone")
    page.get_by_role("button", name="useful: message:").first.click()
    expect(page.get_by_text("thanks: useful — good tone")).to_be_visible()
    assert [i.comment for i in store.interactions(1) if i.kind == "feedback"] == ["good tone"]

    # another case: ignore its draft with a reason
    page.get_by_role("link", name="← Inbox").click()
    page.get_by_role("link", name="CAS-000002").click()
    page.get_by_label("Ignore (discard the draft, route the case) because").select_option("wrong_information")
    page.get_by_label("ignore comment").fill("the date is a holiday")
    page.get_by_role("button", name="Ignore draft").click()
    expect(page.get_by_role("status")).to_contain_text("ignore")
    expect(page.locator("h1 .pill")).to_have_text("with representative")
    assert store.case(2).status == CaseStatus.WITH_REPRESENTATIVE
    assert store.outbox(2)[-1].status == OutboxStatus.DISCARDED
    reasons = [(i.actor_name, i.reason_code, i.comment) for i in store.interactions(2) if i.kind == "draft_ignored"]
    assert reasons == [("alice", "wrong_information", "the date is a holiday")]

    # edit a field: a person's value, with their name as its provenance
    page.get_by_label("preferred_date", exact=True).fill("2026-03-19")
    page.get_by_role("button", name="save preferred_date").click()
    expect(page.get_by_role("status")).to_contain_text("preferred_date saved")
    expect(page.locator("#fields")).to_contain_text("set by alice")
    field = store.current_fields(2)["preferred_date"]
    assert (field.value, field.set_by) == ("2026-03-19", "alice")


def _screenshot(page: Any, name: str, full_page: bool = False) -> None:
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=full_page)
