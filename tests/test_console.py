"""The web console through HTTP (Starlette's TestClient on the real app, a real SQLite store):
sign-in, CSRF on every form, the inbox's filters, the case page's changes, and one review answer
when two representatives click at the same time."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from agent_graph.console.app import create_app
from agent_graph.console.inbox import InboxFilter, inbox_rows
from agent_graph.console.users import UserError, add_user, authenticate
from agent_graph.domain import Action, CaseStatus, Direction, Outbound, OutboxStatus
from agent_graph.interactions import InteractionKind, InteractionQuery, draft_decisions, find
from agent_graph.review import human_response, parse_human_response
from agent_graph.state import ReviewKind
from agent_graph.store import CaseStore
from tests.conftest import DATABASES, email
from tests.test_review import REPAIR

PASSWORD = "correct horse battery"

# Every form of the console, with a body that would change something if the token were not checked.
FORMS = [("/logout", {}), ("/cases/CAS-000001/review", {"decision": "accept"}),
         ("/cases/CAS-000001/fields", {"name": "preferred_date", "value": "2026-04-01"}),
         ("/cases/CAS-000001/take-over", {}), ("/cases/CAS-000001/hand-back", {}),
         ("/cases/CAS-000001/feedback", {"target": "draft:1", "useful": "yes"})]


@pytest.fixture
def agent(make_agent, store, clock):
    agent = make_agent()
    result = agent.process_email(email(REPAIR, subject="Brake repair"))
    assert result.outcome.outbound is Outbound.DRAFTED and result.case_number == "CAS-000001"
    for name in ("alice", "bob"):
        add_user(store, name, PASSWORD, clock.now())
    return agent


@pytest.fixture
def app(agent):
    return create_app(agent, secret="a test secret, not a real one")


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "alice")
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": name, "password": password, "next": "/"})
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)


def test_pages_need_a_signed_in_user(app):
    with TestClient(app, follow_redirects=False) as anonymous:
        answer = anonymous.get("/cases/CAS-000001")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fcases%2FCAS-000001"
        assert anonymous.get("/").status_code == 303
        assert anonymous.post("/cases/CAS-000001/take-over", data={}).status_code == 401


def test_pages_forbid_framing_and_foreign_scripts_and_the_cookie_stays_here(app):
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith("case_agent_console=") and "httponly" in cookie and "samesite=strict" in cookie


def test_the_console_does_not_start_without_a_user(tmp_path):
    from typer.testing import CliRunner

    from agent_graph.cli import app as cli

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    CaseStore(url).close()
    result = CliRunner().invoke(cli, ["console", "--db", url])
    assert result.exit_code == 2 and "no console user" in result.output and "case-agent users add" in result.output


def test_a_wrong_password_or_name_signs_nobody_in(app, store):
    with TestClient(app, follow_redirects=False) as client:
        for name, password in (("alice", "wrong password!"), ("mallory", PASSWORD)):
            token = csrf_of(client.get("/login").text)
            answer = client.post("/login", data={"csrf": token, "name": name, "password": password})
            assert answer.status_code == 401 and "Wrong name or password" in answer.text
        assert client.get("/").status_code == 303
    assert authenticate(store, "alice", PASSWORD) is not None


def _try_password(client: TestClient, name: str, password: str):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name, "password": password})


def test_repeated_failed_sign_ins_are_refused_for_a_while_even_with_the_right_password(app):
    with TestClient(app, follow_redirects=False) as guesser:
        answers = [_try_password(guesser, "alice", f"guess number {n}") for n in range(5)]
        assert [a.status_code for a in answers] == [401] * 5
        refused = _try_password(guesser, "alice", PASSWORD)  # right, but after five failures in a row
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
        assert 60 <= int(refused.headers["retry-after"]) <= 15 * 60
        assert guesser.get("/").status_code == 303  # nobody signed in
        # Another user from the same address is not locked out by alice's failures.
        assert _try_password(guesser, "bob", PASSWORD).status_code == 303


def test_one_address_cannot_try_many_names():
    from agent_graph.console.throttle import SignInThrottle

    throttle = SignInThrottle()
    for n in range(30):
        assert throttle.wait_seconds(f"user{n}", "192.0.2.7") == 0
        throttle.failed(f"user{n}", "192.0.2.7")
    assert throttle.wait_seconds("someone-else", "192.0.2.7") > 0
    assert throttle.wait_seconds("someone-else", "192.0.2.8") == 0  # another address is not held back


def test_passwords_are_stored_as_argon2id_hashes_only(store, agent):
    from sqlalchemy import select

    from agent_graph.store.schema import console_users

    with store.engine.connect() as c:
        hashes = [row.password_hash for row in c.execute(select(console_users))]
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    with pytest.raises(UserError, match="already"):
        add_user(store, "alice", PASSWORD, agent.env.clock.now())
    with pytest.raises(UserError, match="at least"):
        add_user(store, "carol", "short", agent.env.clock.now())


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_users_and_the_inbox_on_either_database(store, make_agent, clock):
    add_user(store, "erin", PASSWORD, clock.now())
    with pytest.raises(UserError, match="already"):
        add_user(store, "erin", PASSWORD, clock.now())
    assert authenticate(store, "erin", PASSWORD) is not None and authenticate(store, "erin", "x" * 12) is None
    agent = make_agent()
    agent.process_email(email(REPAIR, subject="Brake repair"))
    agent.process_email(email("When will my bike be delivered? Order TB-1234.", subject="Delivery", n=2,
                              sender="Sam <sam@example.net>"))
    store.update_case(2, clock.now(), status=CaseStatus.RESOLVED)
    rows = inbox_rows(store, InboxFilter(), clock.now())
    assert [(r.case.number, r.waiting is None) for r in rows] == [("CAS-000001", False), ("CAS-000002", True)]
    assert [r.case.number for r in inbox_rows(store, InboxFilter(review=True), clock.now())] == ["CAS-000001"]


def test_after_sign_in_only_a_path_of_this_site_is_followed(app):
    with TestClient(app, follow_redirects=False) as client:
        for target, expected in (("/cases/CAS-000001", "/cases/CAS-000001"), ("//evil.example/x", "/"),
                                 ("https://evil.example/", "/")):
            token = csrf_of(client.get("/login").text)
            answer = client.post("/login", data={"csrf": token, "name": "alice", "password": PASSWORD,
                                                 "next": target})
            assert answer.headers["location"] == expected


@pytest.mark.parametrize(("path", "data"), FORMS, ids=[p for p, _ in FORMS])
def test_every_form_is_refused_without_its_token(client, store, path, data):
    before = (store.case(1), store.outbox(1), store.field_history(1), store.interactions(1))
    for token in (None, "forged-" + "x" * 30):
        answer = client.post(path, data={**data, **({"csrf": token} if token else {})})
        assert answer.status_code == 403 and "security token" in answer.text
    assert (store.case(1), store.outbox(1), store.field_history(1), store.interactions(1)) == before
    assert client.get("/").status_code == 200  # still signed in: the refused logout did nothing


def test_the_sign_in_form_needs_its_token_too(app):
    with TestClient(app, follow_redirects=False) as client:
        answer = client.post("/login", data={"name": "alice", "password": PASSWORD})
        assert answer.status_code == 403 and client.get("/").status_code == 303


def test_inbox_filters_counts_and_waiting_order(client, agent, store, clock):
    agent.process_email(email("When will my bike be delivered? Order TB-1234.", subject="Delivery",
                              sender="Sam <sam@example.net>", n=7))
    page = client.get("/").text
    assert "pending review 1" in page and "CAS-000001" in page and "CAS-000002" in page
    assert page.index("CAS-000001") < page.index("CAS-000002")  # the longest waiting first
    waiting = client.get("/", params={"review": "true"}).text
    assert "CAS-000001" in waiting and "CAS-000002" not in waiting
    shop = client.get("/", params={"lob": "shop", "language": "en"}).text
    assert "CAS-000002" in shop and "CAS-000001" not in shop
    assert "No case matches" in client.get("/", params={"intent": "return_bike"}).text
    assert client.get("/", params={"status": "no-such-status"}).status_code == 400


def test_the_report_page_is_the_managers_report(client, app):
    page = client.get("/report")
    assert page.status_code == 200 and "<svg" in page.text and "repair_booking" in page.text
    with TestClient(app, follow_redirects=False) as anonymous:
        assert anonymous.get("/report").status_code == 303


def test_case_page_shows_the_draft_its_template_and_the_timeline(client, store):
    page = client.get("/cases/CAS-000001").text
    draft = store.pending_drafts(1)[0]
    assert "Draft waiting for review" in page and draft.subject in page
    assert f"Template: <strong>{draft.template_id}</strong>" in page
    assert "email in" in page and "preferred_date" in page
    assert client.get("/cases/CAS-999999").status_code == 404


def test_what_customers_write_is_shown_as_text(client, agent):
    agent.process_email(email("<script>alert('x')</script> my bike <b>broke</b>", subject="<img src=x onerror=alert(1)>",
                              sender="Eve <eve@example.net>", n=9))
    for page in (client.get("/").text, client.get("/cases/CAS-000002").text):
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in client.get("/cases/CAS-000002").text


def test_two_people_answering_one_draft_at_once_send_it_once(app, store):
    clients = [TestClient(app, follow_redirects=False) for _ in range(2)]
    tokens = [sign_in(c, name) for c, name in zip(clients, ("alice", "bob"), strict=True)]
    start = threading.Barrier(2)
    answers: list[int] = []

    def answer(client: TestClient, token: str) -> None:
        start.wait()
        answers.append(client.post("/cases/CAS-000001/review", data={"csrf": token, "decision": "accept"}).status_code)

    threads = [threading.Thread(target=answer, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [303, 409]
    assert len([m for m in store.messages(1) if m.direction == Direction.OUTBOUND]) == 1
    assert [d.status for d in store.outbox(1)] == [OutboxStatus.SENT]
    (decision,) = draft_decisions(store)
    assert decision.kind == InteractionKind.DRAFT_ACCEPTED and decision.actor_name in ("alice", "bob")
    for c in clients:
        c.close()


def test_edit_and_send(client, store):
    token = csrf_of(client.get("/cases/CAS-000001").text)
    answer = client.post("/cases/CAS-000001/review", data={"csrf": token, "decision": "edit", "subject": "Booked",
                                                          "body": "See you on the 10th.\r\nThe workshop"})
    assert answer.status_code == 303 and answer.headers["location"] == "/cases/CAS-000001"
    assert 'role="status">edit: ' in client.get("/cases/CAS-000001").text  # said once, then gone
    assert 'role="status"' not in client.get("/cases/CAS-000001").text
    sent = store.outbox(1)[-1]
    assert (sent.status, sent.subject, sent.body, sent.edited) == (OutboxStatus.SENT, "Booked",
                                                                   "See you on the 10th.\nThe workshop", True)
    (edited,) = find(store, InteractionQuery(case_id=1, kinds=[InteractionKind.DRAFT_EDITED]))
    assert edited.actor_name == "alice" and edited.edit_size and edited.outbox_id == sent.id


def test_ignore_with_a_reason_routes_the_case_and_records_why(client, store):
    token = csrf_of(client.get("/cases/CAS-000001").text)
    answer = client.post("/cases/CAS-000001/review", data={"csrf": token, "decision": "ignore",
                                                          "reason": "wrong_intent", "comment": "it is a return"})
    assert answer.status_code == 303
    assert store.case(1).status == CaseStatus.WITH_REPRESENTATIVE
    assert store.outbox(1)[-1].status == OutboxStatus.DISCARDED
    (ignored,) = find(store, InteractionQuery(case_id=1, kinds=[InteractionKind.DRAFT_IGNORED]))
    assert (ignored.actor_name, ignored.reason_code, ignored.comment) == ("alice", "wrong_intent", "it is a return")
    (routed,) = find(store, InteractionQuery(case_id=1, kinds=[InteractionKind.ROUTED]))
    page = client.get("/cases/CAS-000001").text
    assert "Hand-off" in page and html.escape(routed.detail["handoff"]["text"], quote=False).split("\n")[0] in page
    assert "Summary worded offline." in page  # who worded it (the offline brain has no words of its own)
    bad = client.post("/cases/CAS-000001/review", data={"csrf": token, "decision": "ignore", "reason": "bored"})
    assert bad.status_code == 400


def test_a_field_edited_by_a_person_carries_their_name(client, store):
    token = csrf_of(client.get("/cases/CAS-000001").text)
    answer = client.post("/cases/CAS-000001/fields", data={"csrf": token, "name": "preferred_date",
                                                          "value": "2026-04-01"})
    assert answer.status_code == 303
    field = store.current_fields(1)["preferred_date"]
    assert (field.value, field.set_by, field.message_id) == ("2026-04-01", "alice", None)
    page = client.get("/cases/CAS-000001").text
    assert "set by alice" in page and "preferred_date = 2026-04-01 (was 2026-03-10)" in page
    (edited,) = find(store, InteractionQuery(case_id=1, kinds=[InteractionKind.FIELD_EDITED]))
    assert (edited.actor_name, edited.detail["before"]) == ("alice", "2026-03-10")
    refused = client.post("/cases/CAS-000001/fields", data={"csrf": token, "name": "status", "value": "closed"})
    assert refused.status_code == 409 and "has no field" in refused.text


def test_take_over_and_hand_back(client, agent, store):
    token = csrf_of(client.get("/cases/CAS-000001").text)
    refused = client.post("/cases/CAS-000001/take-over", data={"csrf": token})
    assert refused.status_code == 409 and "answer it first" in refused.text
    agent.answer_review(1, {"type": "accept", "args": None})
    status = store.case(1).status
    assert client.post("/cases/CAS-000001/take-over", data={"csrf": token}).status_code == 303
    assert (store.case(1).status, store.case(1).queue) == (CaseStatus.WITH_REPRESENTATIVE, "alice")
    reply = agent.process_email(email("It still squeaks, can you help?", subject="Re: Brake repair", n=2,
                                      in_reply_to="m1@customer.example"))
    assert reply.outcome.action is Action.UPDATE_ONLY and reply.outcome.outbound is Outbound.NONE  # hers now
    assert client.post("/cases/CAS-000001/hand-back", data={"csrf": token}).status_code == 303
    assert store.case(1).status == status and store.case(1).queue is None
    assert [i.kind for i in store.interactions(1) if i.kind in ("taken_over", "handed_back")] == [
        "taken_over", "handed_back"]


def test_feedback_on_a_suggestion(client, store):
    token = csrf_of(client.get("/cases/CAS-000001").text)
    answer = client.post("/cases/CAS-000001/feedback", headers={"HX-Request": "true"},
                         data={"csrf": token, "target": "draft:1", "useful": "no", "comment": "too formal"})
    assert answer.status_code == 200 and "not useful" in answer.text and "<html" not in answer.text
    (given,) = find(store, InteractionQuery(case_id=1, kinds=[InteractionKind.FEEDBACK]))
    assert (given.actor_name, given.useful, given.comment, given.outbox_id) == ("alice", False, "too formal", 1)
    assert given.detail == {"target": "draft:1"}
    for target in ("draft:99", "message:1000", "interaction:x"):  # not one of this case's
        refused = client.post("/cases/CAS-000001/feedback", data={"csrf": token, "target": target, "useful": "yes"})
        assert refused.status_code in (400, 404)
    assert len(find(store, InteractionQuery(kinds=[InteractionKind.FEEDBACK]))) == 1


def test_the_console_answers_as_the_cli_does_and_says_who_and_why():
    pending = {"action_request": {"action": "send_email", "args": {"to": "a@b.example", "subject": "S", "body": "B"}}}
    assert human_response(pending, ReviewKind.EDIT, body="B2", reviewer="alice") == {
        "type": "edit", "args": {"action": "send_email", "args": {"to": "a@b.example", "subject": "S", "body": "B2"}},
        "reviewer": "alice"}
    assert human_response(pending, ReviewKind.IGNORE, reviewer="bob", reason_code="wrong_intent", comment="c") == {
        "type": "ignore", "args": None, "reviewer": "bob", "reason_code": "wrong_intent", "comment": "c"}
    assert parse_human_response(human_response(pending, ReviewKind.RESPONSE, text="call her")).text == "call her"


def test_users_add_from_the_command_line(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    url = f"sqlite:///{tmp_path / 'users.db'}"
    command = [sys.executable, "-m", "agent_graph.cli", "users", "add", "dana", "--password-stdin", "--db", url]
    done = subprocess.run(command, check=False, input=PASSWORD + "\n", capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    store = CaseStore(url, create=False)
    try:
        assert authenticate(store, "dana", PASSWORD) is not None
        assert authenticate(store, "dana", PASSWORD + "x") is None
    finally:
        store.close()
