"""Microsoft 365 and Dynamics 365: the Graph shared mailbox and the Dataverse case sync, against the
local stand-in (tests/msstandin.py: Entra ID's token endpoint, Graph, the Dataverse Web API).

End to end through ``case-agent run --once --mailbox graph://… --cases dataverse``; in process
where the point is one call (tokens, paging, concurrency, ETags). Nothing of the agent is mocked.
"""

from __future__ import annotations

import email
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from agent_graph.catalog import Catalog, DataverseMapping
from agent_graph.cli import app
from agent_graph.clock import FixedClock
from agent_graph.dataverse.client import Dataverse, row_id
from agent_graph.dataverse.sync import CaseSync, OperationStatus, outbox_summary
from agent_graph.domain import OutboxStatus
from agent_graph.mail import Position, open_inbox, open_sender
from agent_graph.mail.graph import GraphMailbox
from agent_graph.microsoft import MicrosoftRefused, MicrosoftSettings, TokenRefused
from agent_graph.runner import MailService, RunSettings
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore
from agent_graph.store.schema import dataverse_operations
from tests.conftest import CATALOG_YAML
from tests.conftest import email as conftest_email
from tests.msstandin import MicrosoftStandIn, rsa_certificate
from tests.test_mail_service import APPLE_MAIL, BOUNCE, GMAIL, MAILBOX, OUTLOOK, OUT_OF_OFFICE, cli_in_fork, crlf

QUEUE = "Shop desk"
COLUMNS = {"cr5a1_intent", "cr5a1_lineofbusiness", "cr5a1_orderref"}


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MicrosoftStandIn]:
    server = MicrosoftStandIn(tmp_path, mailbox=MAILBOX, custom_columns=COLUMNS, queues=(QUEUE, "Workshop desk"))
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    yield server
    server.close()


@pytest.fixture
def dataverse_catalog(tmp_path: Path) -> Path:
    catalog = yaml.safe_load(CATALOG_YAML)
    catalog["dataverse"] = {"intent_column": "cr5a1_intent", "lob_column": "cr5a1_lineofbusiness",
                            "attributes": {"order_ref": "cr5a1_orderref"}, "queues": {"shop": QUEUE}}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    return path


def reply(to: email.message.Message, sender: str, body: str, n: int) -> bytes:
    return crlf(f"From: {sender}\nTo: {MAILBOX}\nSubject: Re: {to['Subject']}\nDate: Tue, 3 Mar 2026 18:0{n}:00 +0000\n"
                f"Message-ID: <answer-{n}@customer.example>\nIn-Reply-To: {to['Message-ID']}\n"
                f"References: {to['References'] or ''} {to['Message-ID']}\nContent-Type: text/plain; charset=UTF-8\n\n"
                f"{body}\n")


def sent_mail(standin: MicrosoftStandIn) -> dict[str, email.message.Message]:
    """The agent's emails (sent through Graph) by the Message-ID they answer."""
    parsed = [email.message_from_bytes(m.raw) for m in standin.sent]
    return {str(m["In-Reply-To"]): m for m in parsed}


def operations(db: str) -> list[Any]:
    store = CaseStore(db)
    with store.engine.connect() as connection:
        rows = list(connection.execute(select(dataverse_operations).order_by(dataverse_operations.c.id)))
    store.close()
    return rows


# --- end to end -----------------------------------------------------------------------------------

def test_run_once_on_a_graph_mailbox_answers_real_client_mail_and_keeps_dataverse_cases(
        standin: MicrosoftStandIn, dataverse_catalog: Path, tmp_path: Path) -> None:
    robin = crlf("From: Robin Vale <robin@example.net>\nTo: help@tidewater.example\nSubject: Return\n"
                 "Date: Tue, 3 Mar 2026 09:00:00 +0000\nMessage-ID: <robin-1@example.net>\n"
                 "Content-Type: text/plain; charset=utf-8\n\nHi, I want to return the bike I bought, the frame is "
                 "too big for me. My order is TB-1234. Thanks, Robin\n")
    for raw in (OUTLOOK, GMAIL, APPLE_MAIL, BOUNCE, OUT_OF_OFFICE):
        standin.deliver(crlf(raw))
    standin.deliver(robin)
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    args = ["run", "--once", "--mailbox", f"graph://{MAILBOX}", "--cases", "dataverse", "--db", db,
            "--catalog", str(dataverse_catalog), "--after-processing", "move:archive", "--retry-after", "0"]
    code, log = cli_in_fork(args, tmp_path / "run1.log")
    assert code == 0, log

    # Mail: four customers answered through Graph, threaded; the bounce and the out-of-office not.
    answers = sent_mail(standin)
    customers = {"<AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com>": "sam.carter@bigcorp.example",
                 "<CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>": "priya.natarajan@gmail.com",
                 "<5F2B7C1E-9A3D-4B8E-8C1F-2D7E6A9B0C11@icloud.com>": "jose.garcia@icloud.com",
                 "<robin-1@example.net>": "robin@example.net"}
    assert set(answers) == set(customers)
    for parent, address in customers.items():
        assert address in answers[parent]["To"] and parent in answers[parent]["References"]
        assert answers[parent]["Message-ID"] in {m.internet_message_id for m in standin.sent}
    assert {m.folder for m in standin.messages} == {"archive"}
    graph_calls = [(method, target, headers) for method, target, headers in standin.requests if "/v1.0/" in target]
    assert graph_calls and all('IdType="ImmutableId"' in headers.get("Prefer", "") for _, _, headers in graph_calls)
    assert standin.most_in_flight <= 4

    # Dataverse: a case per customer, linked to a contact, with the catalog's columns.
    incidents = {row["emailaddress"]: row for row in standin.rows("incidents")}
    assert set(incidents) == set(customers.values())
    contacts = {row["contactid"]: row["emailaddress1"] for row in standin.rows("contacts")}
    for address, incident in incidents.items():
        assert contacts[incident["_customerid_value"]] == address
        assert incident["caseorigincode"] == 2 and incident["statecode"] == 0
        assert incident["cr5a1_intent"] == "return_bike" and incident["cr5a1_lineofbusiness"] == "shop"
        assert len(incident["description"]) <= 2000
    assert incidents["robin@example.net"]["cr5a1_orderref"] == "TB-1234"
    activities = standin.rows("emails")
    assert len(activities) == 8  # each customer email and each answer, regarding its case
    for activity in activities:
        assert activity["_regardingobjectid_value"] in {i["incidentid"] for i in incidents.values()}
        assert (activity["statecode"], activity["statuscode"]) == ((1, 3) if activity["directioncode"] else (1, 4))
    assert standin.upserts == []  # every PATCH said If-None-Match or If-Match

    # Run 2: Robin accepts (the case is resolved), Priya gives her order number; CloseIncident fails
    # (Dataverse down) — the mail goes on, the resolution waits in the outbox.
    standin.deliver(reply(answers["<robin-1@example.net>"], "Robin Vale <robin@example.net>", "Perfect, thank you!", 1))
    standin.deliver(reply(answers["<CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>"], "Priya Natarajan <priya.natarajan@gmail.com>",
                          "The order is TB-4821, the frame is too big.", 2))
    standin.fail("CloseIncident", count=1000, status=503, retry_after=None)  # down for the whole run
    code, log = cli_in_fork(args, tmp_path / "run2.log")
    assert code == 0, log
    assert "<answer-2@customer.example>" in sent_mail(standin)  # Priya's resolution went out all the same
    assert standin.rows("incidentresolutions") == []
    waiting = [op for op in operations(db) if op.kind == "state"]
    assert [op.status for op in waiting] == [OperationStatus.PENDING] and waiting[0].attempts >= 1
    assert "503" in (waiting[0].last_error or "")
    status = CliRunner().invoke(app, ["status", "--db", db])
    assert "dataverse: 1 operation(s) pending (1 after a failed attempt), 0 failed" in status.output
    assert "CloseIncident: 503" in status.output
    assert incidents["priya.natarajan@gmail.com"]["incidentid"] in {
        a["_regardingobjectid_value"] for a in standin.rows("emails") if "TB-4821" in a["description"]}

    # Run 3: Dataverse is back but throttles once; Priya still needs help (routed to the queue).
    proposal = sent_mail(standin)["<answer-2@customer.example>"]
    standin.deliver(reply(proposal, "Priya Natarajan <priya.natarajan@gmail.com>",
                          "That doesn't help, the courier never came. I still need help.", 3))
    standin.failures.clear()
    standin.fail("/org/api/data/v9.2/", count=1, status=429, retry_after=1)
    code, log = cli_in_fork(args, tmp_path / "run3.log")
    assert code == 0, log
    robin_case = next(i for i in standin.rows("incidents") if i["emailaddress"] == "robin@example.net")
    assert (robin_case["statecode"], robin_case["statuscode"]) == (1, 5)
    [resolution] = standin.rows("incidentresolutions")
    assert resolution["_incidentid_value"] == robin_case["incidentid"]
    [item] = standin.rows("queueitems")
    queue = next(q for q in standin.rows("queues") if q["name"] == QUEUE)
    assert item["queueid"] == queue["queueid"] and item["objectid"] == incidents["priya.natarajan@gmail.com"]["incidentid"]
    assert all(op.status == OperationStatus.DONE for op in operations(db) if op.kind != "email")
    assert len(standin.rows("emails")) == 8 + 2 + 1 + 1  # runs 2 and 3: three customer emails, one answer
    assert standin.upserts == [] and "app-secret" not in log
    assert "dataverse: 0 operation(s) pending" in CliRunner().invoke(app, ["status", "--db", db]).output


# --- in process ------------------------------------------------------------------------------------

def test_a_refused_secret_names_error_and_correlation_id_but_never_the_secret(
        standin: MicrosoftStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_SECRET", "wrong-secret-4711")
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_ID", "another-app")  # a fresh msal application
    standin.client_id = "another-app"
    mailbox = GraphMailbox(f"graph://{MAILBOX}")
    with pytest.raises(TokenRefused) as refused:
        mailbox.get(f"{mailbox.user}/mailFolders")
    message = str(refused.value)
    assert "invalid_client" in message and "AADSTS7000215" in message and "correlation_id" in message
    assert "wrong-secret-4711" not in message


def test_a_certificate_instead_of_a_secret(standin: MicrosoftStandIn, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    both, public, thumbprint = rsa_certificate()
    standin.certificate = public
    standin.client_id = "certificate-app"  # a fresh msal application
    pem = tmp_path / "app.pem"
    pem.write_bytes(both)
    monkeypatch.delenv("CASE_AGENT_MS_CLIENT_SECRET")
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_ID", "certificate-app")
    monkeypatch.setenv("CASE_AGENT_MS_CERTIFICATE", str(pem))
    monkeypatch.setenv("CASE_AGENT_MS_CERTIFICATE_THUMBPRINT", thumbprint)
    assert open_inbox(f"graph://{MAILBOX}").pending(None) == 0  # signed in with a client assertion
    token_requests = [target for method, target, _ in standin.requests if target.endswith("/token")]
    assert len(token_requests) == 1
    _, _, other = rsa_certificate()
    monkeypatch.setenv("CASE_AGENT_MS_CERTIFICATE_THUMBPRINT", other)  # the wrong certificate
    monkeypatch.setenv("CASE_AGENT_MS_CLIENT_ID", "certificate-app-2")
    standin.client_id = "certificate-app-2"
    with pytest.raises(TokenRefused, match="AADSTS700027"):
        GraphMailbox(f"graph://{MAILBOX}").get(f"users/{MAILBOX}/mailFolders")


def test_an_unreachable_identity_platform_is_a_mailbox_error_not_a_crash(
        standin: MicrosoftStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_graph.mail import MailboxUnavailable

    monkeypatch.setenv("CASE_AGENT_MS_AUTHORITY_URL", "https://127.0.0.1:9")  # nothing listens there
    inbox = open_inbox(f"graph://{MAILBOX}")  # opening asks nobody
    with pytest.raises(MailboxUnavailable, match="cannot be reached"):
        inbox.pending(None)


def test_tokens_come_from_msal_s_cache_and_an_expired_one_is_renewed(standin: MicrosoftStandIn) -> None:
    mailbox = GraphMailbox(f"graph://{MAILBOX}")
    inbox = open_inbox(f"graph://{MAILBOX}")
    issued = standin.issued
    assert inbox.pending(None) == 0 and inbox.pending(Position()) == 0
    mailbox.get(f"{mailbox.user}/mailFolders")
    assert standin.issued <= issued + 1
    standin.expire_tokens()  # the service refuses the cached token: one new token, the request answered
    before = standin.issued
    mailbox.get(f"{mailbox.user}/mailFolders")
    assert standin.issued == before + 1


def test_delta_pages_are_followed_and_a_restart_reads_only_new_mail(standin: MicrosoftStandIn) -> None:
    for n in range(120):
        standin.deliver(crlf(f"From: c{n}@example.org\nTo: {MAILBOX}\nSubject: n{n}\nMessage-ID: <n{n}@example.org>\n"
                             f"\nbody {n}\n"))
    inbox = open_inbox(f"graph://{MAILBOX}", "seen")
    assert inbox.pending(None) == 120
    fetched = list(inbox.fetch(None))
    assert [email.message_from_bytes(f.raw)["Message-ID"] for f in fetched] == [f"<n{n}@example.org>" for n in range(120)]
    assert len({f.at.position for f in fetched[:-1]}) == 1 and fetched[0].at.position is None  # the round's start
    inbox.done(fetched[0])
    assert standin.messages[0].is_read
    last = fetched[-1].at
    standin.deliver(crlf(f"From: late@example.org\nTo: {MAILBOX}\nSubject: late\nMessage-ID: <late@example.org>\n\nx\n"))
    [late] = list(open_inbox(f"graph://{MAILBOX}").fetch(last))
    assert b"<late@example.org>" in late.raw
    assert sum("$skiptoken" in target for _, target, _ in standin.requests) >= 2  # 120 at 50 a page


def test_at_most_four_requests_in_flight_per_mailbox(standin: MicrosoftStandIn) -> None:
    mailbox = GraphMailbox(f"graph://{MAILBOX}")
    mailbox.get(f"{mailbox.user}/mailFolders")  # the token, once
    errors: list[BaseException] = []

    def look() -> None:
        try:
            for _ in range(3):
                GraphMailbox(f"graph://{MAILBOX}").get(f"{mailbox.user}/mailFolders")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and 2 <= standin.most_in_flight <= 4


def test_sending_keeps_the_message_id_and_sent_items_tells_a_retry(standin: MicrosoftStandIn) -> None:
    sender = open_sender(None, f"graph://{MAILBOX}")
    raw = crlf(f"From: {MAILBOX}\nTo: robin@example.net\nSubject: Re: Return\nMessage-ID: <agent-1@tidewater.example>\n"
               "In-Reply-To: <robin-1@example.net>\nReferences: <robin-1@example.net>\n\nHello\n")
    assert sender.already_sent("agent-1@tidewater.example") is False
    standin.fail("/sendMail", count=1, status=429, retry_after=1)  # throttled: waited for, then sent
    sender.send(raw, MAILBOX, ["robin@example.net"], "agent-1@tidewater.example")
    [sent] = standin.sent
    assert sent.internet_message_id == "<agent-1@tidewater.example>" and sent.raw == raw
    assert sender.already_sent("agent-1@tidewater.example") is True
    with pytest.raises(MicrosoftRefused, match="Invalid base64"):
        sender.mailbox.client.request("POST", f"{sender.mailbox.user}/sendMail", data=b"%%%",
                                      headers={"Content-Type": "text/plain"}, expect=(202,))


def test_a_mailbox_outside_the_application_access_policy_is_an_error(standin: MicrosoftStandIn) -> None:
    from agent_graph.mail import MailboxUnavailable

    with pytest.raises(MailboxUnavailable, match="ErrorAccessDenied"):
        open_inbox("graph://ceo@contoso.example").pending(None)


def test_dataverse_refuses_what_the_real_service_refuses(standin: MicrosoftStandIn) -> None:
    dataverse = Dataverse(MicrosoftSettings.from_environment())
    contact = dataverse.contact_for("robin@example.net", "Robin Vale")
    assert dataverse.contact_for("Robin@Example.net", None) == contact  # found by address, not made twice
    incident = row_id("incident", "test")
    with pytest.raises(MicrosoftRefused, match="Customer: Required"):
        dataverse.create("incidents", incident, {"title": "No customer"})
    assert dataverse.create("incidents", incident, {"title": "Return", "customerid_contact@odata.bind": f"/contacts({contact})"})
    assert not dataverse.create("incidents", incident, {"title": "Return again",  # a repeat changes nothing
                                                        "customerid_contact@odata.bind": f"/contacts({contact})"})
    with pytest.raises(MicrosoftRefused, match="undeclared property 'regardingobjectid_incident'"):
        dataverse.create("emails", row_id("email", "x"), {
            "subject": "Hi", "regardingobjectid_incident@odata.bind": f"/incidents({incident})"})
    with pytest.raises(MicrosoftRefused, match="Does Not Exist"):  # If-Match: * never creates
        dataverse.update("incidents", row_id("incident", "missing"), {"title": "x"})
    token = dataverse.client.application.token(f"{standin.dataverse_url}/.default")
    bare = requests.get(f"{standin.dataverse_url}/api/data/v9.2/incidents({incident})",
                        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                        verify=str(standin.cert), timeout=10)
    assert bare.status_code == 400 and "OData-Version" in bare.text
    graph_token = requests.post(f"{standin.base}/contoso/oauth2/v2.0/token", verify=str(standin.cert), timeout=10, data={
        "grant_type": "client_credentials", "client_id": standin.client_id, "client_secret": standin.client_secret,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    wrong_audience = requests.get(f"{standin.dataverse_url}/api/data/v9.2/incidents({incident})", timeout=10,
                                  verify=str(standin.cert), headers={"Authorization": f"Bearer {graph_token}",
                                                                     "Accept": "application/json",
                                                                     "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    assert wrong_audience.status_code == 401


def test_an_update_re_reads_on_412_and_reopens_a_resolved_case_first(standin: MicrosoftStandIn) -> None:
    dataverse = Dataverse(MicrosoftSettings.from_environment())
    contact = dataverse.contact_for("robin@example.net", "Robin Vale")
    incident = row_id("incident", "reopen")
    dataverse.create("incidents", incident, {"title": "Return", "customerid_contact@odata.bind": f"/contacts({contact})"})
    dataverse.resolve(incident, "resolved by the agent", 5)
    dataverse.resolve(incident, "resolved by the agent", 5)  # a repeat: nothing to do
    assert len(standin.rows("incidentresolutions")) == 1
    row = standin.tables["incidents"].rows[incident]
    standin.edit_after_next_read = (incident, {"prioritycode": 1})  # someone edits it between read and write
    assert dataverse.update_case(incident, {"title": "Return, reopened"}) is True
    assert (row["statecode"], row["title"], row["prioritycode"]) == (0, "Return, reopened", 1)
    assert standin.request_counts()["PATCH /org/api/data/v9.2/incidents(" + incident + ")"] >= 3


def test_a_bad_graph_or_dataverse_setting_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CASE_AGENT_MS_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--once", "--mailbox", "graph://support@contoso.example",
                                 "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 2 and "CASE_AGENT_MS_TENANT" in result.output
    result = runner.invoke(app, ["run", "--once", "--mailbox", "graph://not-an-address",
                                 "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 2 and "graph://MAILBOX@DOMAIN" in result.output
    result = runner.invoke(app, ["run", "--once", "--mailbox", str(tmp_path), "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert result.exit_code == 2 and "--smtp is needed" in result.output


@pytest.mark.both_databases
def test_each_operation_is_planned_once_and_an_answer_is_recorded_once_delivered(
        standin: MicrosoftStandIn, store: CaseStore, clock: FixedClock, catalog: Catalog,
        make_agent: Callable[..., CaseAgent]) -> None:
    catalog = catalog.model_copy(update={"dataverse": DataverseMapping(intent_column="cr5a1_intent")})
    agent = make_agent()
    first = agent.process_email(conftest_email("Hi, I want to return the bike I bought, the frame is too big for me. "
                                               "My order is TB-1234. Thanks, Robin", subject="Return"))
    dataverse = Dataverse(MicrosoftSettings.from_environment())
    sync = CaseSync(store, catalog, clock, dataverse, timedelta(0))
    report = sync.sync()
    assert report.planned == 3 and report.done == 2 and report.waiting == 1  # the answer is not delivered yet
    [incident] = standin.rows("incidents")
    assert incident["cr5a1_intent"] == "return_bike" and len(standin.rows("emails")) == 1
    another = CaseSync(store, catalog, clock, dataverse, timedelta(0))  # another process on the same store
    assert another.plan() == 0 and sync.plan() == 0
    [answer] = [item for item in store.outbox(first.case_id) if item.status == OutboxStatus.SENT]
    assert answer.id is not None
    store.set_outbox(answer.id, delivered_at=clock.now())
    assert sync.run_due().done == 1
    outgoing = [a for a in standin.rows("emails") if a["directioncode"]]
    assert len(outgoing) == 1 and outgoing[0]["_regardingobjectid_value"] == incident["incidentid"]
    assert all(op.status == OperationStatus.DONE for op in operations(store.url))
    summary = outbox_summary(store)
    assert summary is not None and (summary.pending, summary.failed) == (0, 0)


def test_a_long_retry_after_makes_the_operation_wait_that_long_and_the_mail_goes_on(
        standin: MicrosoftStandIn, store: CaseStore, clock: FixedClock, catalog: Catalog,
        make_agent: Callable[..., CaseAgent]) -> None:
    agent = make_agent()
    agent.process_email(conftest_email("Hi, I want to return the bike I bought, the frame is too big for me.",
                                       subject="Return"))
    sync = CaseSync(store, catalog, clock, Dataverse(MicrosoftSettings.from_environment()), timedelta(seconds=30))
    standin.fail("/org/api/data/v9.2/", count=1, status=429, retry_after=120)  # throttled for two minutes
    report = sync.sync()
    assert report.done == 0 and standin.rows("incidents") == []
    first = operations(store.url)[0]
    assert first.status == OperationStatus.PENDING and first.next_attempt_at == clock.now() + timedelta(seconds=120)
    agent.process_email(conftest_email("Hello, my brakes squeak. Could I bring my bike in for a repair?",
                                       subject="Brakes", sender="Kim <kim@example.net>", n=2))  # mail goes on
    clock.advance(timedelta(seconds=119))
    assert sync.sync().done == 0 and standin.rows("incidents") == []  # nothing sent before the time asked
    clock.advance(timedelta(seconds=1))
    sync.sync()
    assert {i["emailaddress"] for i in standin.rows("incidents")} == {"robin@example.net", "kim@example.net"}
    assert len(standin.rows("emails")) == 2


def test_a_send_whose_answer_was_lost_is_found_in_sent_items_and_not_sent_again(
        standin: MicrosoftStandIn, store: CaseStore, make_agent: Callable[..., CaseAgent]) -> None:
    standin.deliver(conftest_email("Hi, I want to return the bike I bought, the frame is too big for me. "
                                   "My order is TB-1234. Thanks, Robin", subject="Return"))
    standin.fail("/sendMail", count=1, status=504, retry_after=None, taken=True)  # Exchange took it; the answer is lost
    agent = make_agent()
    service = MailService(agent, open_inbox(f"graph://{MAILBOX}"), open_sender(None, f"graph://{MAILBOX}"),
                          RunSettings(once=True, first_retry=0))
    assert service.run() == 0
    [item] = store.outbox()
    assert item.delivered_at is not None and item.attempts == 1  # the retry looked in Sent Items first
    assert [m.internet_message_id for m in standin.sent] == [f"<{item.message_id}>"]  # sent once
