"""`case-agent run` against real mail servers: Dovecot for IMAP, aiosmtpd for SMTP (tests/mailservers.py).

End to end through the command line where the behaviour is the command's (exit codes, signals,
logs); in process where the point is one step (delivery faults), which is faster. Nothing of the
agent is mocked: the servers are real, the store is real SQLite.
"""

from __future__ import annotations

import email
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_graph.catalog import Catalog
from agent_graph.cli import app
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.domain import CaseStatus, OutboxStatus
from agent_graph.mail import open_inbox, open_sender
from agent_graph.runner import MailService, RunSettings
from agent_graph.service import CaseAgent
from agent_graph.store import CaseStore
from agent_graph.timeline import case_timeline
from tests.conftest import CATALOG_YAML, REPO, T0
from tests.mailservers import PASSWORD, Dovecot, SmtpHandler, SmtpServer, TokenService

MAILBOX = "help@tidewater.example"

# --- raw MIME as real clients write it --------------------------------------------------------

OUTLOOK = """Received: from AM0PR07MB1234.eurprd07.prod.outlook.com
From: Sam Carter <sam.carter@bigcorp.example>
To: "help@tidewater.example" <help@tidewater.example>
Subject: Returning my bike
Thread-Topic: Returning my bike
Thread-Index: AQHaXk1xq2u7
Date: Tue, 3 Mar 2026 14:03:11 +0000
Message-ID: <AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com>
Accept-Language: en-GB, en-US
Content-Language: en-GB
X-MS-Has-Attach:
MIME-Version: 1.0
Content-Type: multipart/alternative;
\tboundary="_000_AM0PR07MB1234ABCD_"

--_000_AM0PR07MB1234ABCD_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hello,

I want to return the bike I bought, it is too big for me. How do I get a re=
fund?

Kind regards,
Sam Carter

--_000_AM0PR07MB1234ABCD_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Hello,</p><p>I want to return the bike I bought, it is too b=
ig for me. How do I get a refund?</p><p>Kind regards,<br>Sam Carter</p></body></html>

--_000_AM0PR07MB1234ABCD_--
"""

GMAIL = """MIME-Version: 1.0
Date: Tue, 3 Mar 2026 15:12:40 +0100
Message-ID: <CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>
Subject: Return bicycle
From: Priya Natarajan <priya.natarajan@gmail.com>
To: help@tidewater.example
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f6"

--000000000000a1b2c3d4e5f6
Content-Type: text/plain; charset="UTF-8"

Hi, can I send back my bicycle for a refund? The frame size is wrong.
Thanks!
Priya

--000000000000a1b2c3d4e5f6
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Hi, can I send back my bicycle for a refund? The frame size is wrong.<div>Thanks!</div><div>Priya</div></div>

--000000000000a1b2c3d4e5f6--
"""

APPLE_MAIL = """From: =?utf-8?Q?Jos=C3=A9_Garc=C3=ADa?= <jose.garcia@icloud.com>
Content-Type: text/plain;
\tcharset=utf-8
Content-Transfer-Encoding: quoted-printable
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.300.61.1.2\\))
Subject: Bike return
Message-Id: <5F2B7C1E-9A3D-4B8E-8C1F-2D7E6A9B0C11@icloud.com>
Date: Tue, 3 Mar 2026 16:20:05 +0100
To: help@tidewater.example
X-Mailer: Apple Mail (2.3774.300.61.1.2)

Hello, how do I return my order and get a refund? The bike is too big for m=
e.

Jos=C3=A9=
"""

BOUNCE = """From: Mail Delivery Subsystem <MAILER-DAEMON@mx.bigcorp.example>
To: help@tidewater.example
Subject: Undelivered Mail Returned to Sender
Date: Tue, 3 Mar 2026 16:30:00 +0000
Message-ID: <20260303163000.ABC123@mx.bigcorp.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.bigcorp.example. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.bigcorp.example
Final-Recipient: rfc822; nobody@bigcorp.example
Action: failed
Status: 5.1.1

--BOUNDARY--
"""

OUT_OF_OFFICE = """From: Lee Park <lee.park@corp.example>
To: help@tidewater.example
Subject: Automatic reply: Your newsletter
Date: Tue, 3 Mar 2026 16:40:00 +0000
Message-ID: <AM0OOF999@corp.example>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

I am out of the office until 16 March 2026 with limited access to email.
"""

REPAIR = """From: Robin Vale <robin@example.net>
To: help@tidewater.example
Subject: Brake repair
Date: Tue, 3 Mar 2026 17:00:00 +0000
Message-ID: <repair-1@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"

Hello, my brakes squeak terribly. Could I bring my bike in for a repair on 10 March 2026? Thanks, Robin
"""


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def customer_email(n: int, body: str = "I want to return the bike I bought, it is too big for me.") -> bytes:
    return crlf(f"From: Customer {n} <customer{n}@example.org>\nTo: {MAILBOX}\nSubject: Return number {n}\n"
                f"Date: Tue, 3 Mar 2026 10:00:00 +0000\nMessage-ID: <c{n}@example.org>\nMIME-Version: 1.0\n"
                f"Content-Type: text/plain; charset=utf-8\n\n{body}\n")


# --- servers and the command line ------------------------------------------------------------

@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(tmp_path_factory.mktemp("identity"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def dovecot(identity: TokenService) -> Iterator[Dovecot]:
    server = Dovecot(oauth2_tokeninfo_url=identity.tokeninfo_url)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def account(dovecot: Dovecot) -> str:
    return dovecot.new_user()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(SmtpHandler()) as server:
        yield server


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG_YAML)
    return path


CLI = [sys.executable, "-m", "agent_graph.cli"]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=cli_env(),
                          check=False)


def service_args(dovecot: Dovecot, account: str, smtp: SmtpServer, db: str, catalog_file: Path, *more: str) -> list[str]:
    return ["run", "--mailbox", dovecot.url(account), "--smtp", smtp.url(), "--db", db,
            "--catalog", str(catalog_file), *more]


def replies_to(smtp: SmtpServer) -> dict[str, list[email.message.Message]]:
    """The agent's emails by the Message-ID they answer."""
    by_parent: dict[str, list[email.message.Message]] = {}
    for received in smtp.handler.received:
        message = received.message
        by_parent.setdefault(message["In-Reply-To"], []).append(message)
    return by_parent


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


class ServiceProcess:
    """``case-agent run`` in a child forked from the test process (the modules are loaded already,
    so it starts in a fraction of a second); its log goes to a file."""

    def __init__(self, args: list[str], log: Path):
        self.log = log
        context = multiprocessing.get_context("fork")
        self.process = context.Process(target=self._main, args=(args, str(log)), daemon=True)
        self.process.start()

    @staticmethod
    def _main(args: list[str], log: str) -> None:
        sys.stdout = sys.stderr = open(log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        try:
            app(args, prog_name="case-agent")
        except SystemExit as exit_:
            sys.stderr.flush()
            os._exit(exit_.code if isinstance(exit_.code, int) else 1)
        os._exit(0)

    def signal(self, signum: int) -> None:
        assert self.process.pid is not None
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""



def cli_in_fork(args: list[str], log: Path, timeout: float = 240) -> tuple[int | None, str]:
    process = ServiceProcess(args, log)
    code = process.wait(timeout)
    return code, process.text()


# --- end to end -----------------------------------------------------------------------------------

def test_run_once_answers_real_client_mail_threaded_and_never_automatic_mail(
        dovecot: Dovecot, account: str, smtp: SmtpServer, catalog_file: Path, tmp_path: Path) -> None:
    for raw in (OUTLOOK, GMAIL, APPLE_MAIL, BOUNCE, OUT_OF_OFFICE):
        dovecot.append(account, crlf(raw))
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    done = run_cli(*service_args(dovecot, account, smtp, db, catalog_file, "--once", "--log-format", "json",
                                 "--after-processing", "move:Processed"))
    assert done.returncode == 0, done.stderr

    replies = replies_to(smtp)
    customers = {"<AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com>": "sam.carter@bigcorp.example",
                 "<CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>": "priya.natarajan@gmail.com",
                 "<5F2B7C1E-9A3D-4B8E-8C1F-2D7E6A9B0C11@icloud.com>": "jose.garcia@icloud.com"}
    assert set(replies) == set(customers)  # the bounce and the out-of-office are never answered
    for parent, address in customers.items():
        [reply] = replies[parent]
        assert reply["To"] == address and MAILBOX in reply["From"]
        assert parent in reply["References"]
    assert all(r.rcpt_tos == [customers[r.message["In-Reply-To"]]] for r in smtp.handler.received)

    assert dovecot.messages(account) == [] and len(dovecot.messages(account, "Processed")) == 5
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert sum("email imap://" in line["message"] for line in lines) == 5
    assert sum(line["message"].endswith("delivered (attempt 1)") for line in lines) == 3
    assert "too big" not in done.stderr and PASSWORD not in done.stderr  # no bodies, no secrets

    # The customer answers the agent's question; the next run reads only that email.
    [question] = replies["<CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>"]
    answer = crlf(f"From: Priya Natarajan <priya.natarajan@gmail.com>\nTo: {MAILBOX}\n"
                  f"Subject: Re: {question['Subject']}\nDate: Tue, 3 Mar 2026 18:00:00 +0000\n"
                  f"Message-ID: <CAJx9answer@mail.gmail.com>\nIn-Reply-To: {question['Message-ID']}\n"
                  f"References: <CAJx9Lm2kq7oPz4eV5w@mail.gmail.com> {question['Message-ID']}\n"
                  f"Content-Type: text/plain; charset=UTF-8\n\nThe order is TB-4821, the frame is too big.\n")
    dovecot.append(account, answer)
    code, again = cli_in_fork(service_args(dovecot, account, smtp, db, catalog_file, "--once"), tmp_path / "again.log")
    assert code == 0, again
    assert again.count("email imap://") == 1
    [resolution] = replies_to(smtp)["<CAJx9answer@mail.gmail.com>"]
    assert "TB-4821" in resolution.get_payload(decode=True).decode()

    status = CliRunner().invoke(app, ["status", "--db", db])
    assert "outbox: 0 pending delivery" in status.output and "0 failed" in status.output
    assert f"mailbox imap://{account}@127.0.0.1:{dovecot.port}/INBOX: last fetch" in status.output


@pytest.mark.both_databases
def test_a_draft_for_review_goes_out_only_after_review_accept(
        dovecot: Dovecot, account: str, smtp: SmtpServer, catalog_file: Path, tmp_path: Path, db_url: str) -> None:
    dovecot.append(account, crlf(REPAIR))
    db = db_url
    args = service_args(dovecot, account, smtp, db, catalog_file, "--once", "--after-processing", "seen")
    assert cli_in_fork(args, tmp_path / "run-1.log")[0] == 0
    assert smtp.handler.received == []
    [(flags, _raw)] = dovecot.messages(account)
    assert b"\\Seen" in flags

    code, output = cli_in_fork(["review", "CAS-000001", "--accept", "--db", db, "--catalog", str(catalog_file)],
                               tmp_path / "review.log")
    assert code == 0, output
    assert smtp.handler.received == []  # sent by the agent, delivered by the service
    assert cli_in_fork(args, tmp_path / "run-2.log")[0] == 0
    [reply] = smtp.handler.received
    assert reply.rcpt_tos == ["robin@example.net"] and reply.message["In-Reply-To"] == "<repair-1@example.net>"


# --- delivery faults, in process --------------------------------------------------------------------

class InProcess:
    """The service on a real store and the real servers, with a clock the test moves."""

    def __init__(self, catalog: Catalog, store: CaseStore, mailbox_url: str, smtp: SmtpServer):
        self.clock = FixedClock(T0)
        self.store = store
        self.agent = CaseAgent(Context(catalog=catalog, store=store, clock=self.clock))
        self.mailbox_url = mailbox_url
        self.smtp = smtp

    def run_once(self, mailbox_url: str | None = None, smtp_url: str | None = None) -> int:
        service = MailService(self.agent, open_inbox(mailbox_url or self.mailbox_url),
                              open_sender(smtp_url or self.smtp.url()),
                              RunSettings(once=True, first_retry=30))
        return service.run()


@pytest.fixture
def in_process(catalog: Catalog, store: CaseStore, dovecot: Dovecot, account: str, smtp: SmtpServer) -> InProcess:
    return InProcess(catalog, store, dovecot.url(account), smtp)


@pytest.mark.both_databases
def test_a_temporary_smtp_failure_is_retried_later_and_the_email_sent_once(
        in_process: InProcess, dovecot: Dovecot, account: str, smtp: SmtpServer) -> None:
    smtp.handler.answers = ["451 4.3.0 Try again later", "421 4.7.0 Too busy"]
    dovecot.append(account, crlf(GMAIL))
    assert in_process.run_once() == 0
    [item] = in_process.store.outbox()
    assert item.status == OutboxStatus.SENT and item.delivered_at is None and item.attempts == 1
    assert "451" in (item.delivery_error or "") and smtp.handler.received == []

    assert in_process.run_once() == 0  # not due yet: nothing is tried
    assert in_process.store.outbox_item(item.id).attempts == 1
    in_process.clock.advance(timedelta(seconds=31))
    assert in_process.run_once() == 0  # 421: the wait doubles
    retried = in_process.store.outbox_item(item.id)
    assert retried.attempts == 2 and retried.next_attempt_at == in_process.clock.now() + timedelta(seconds=60)
    in_process.clock.advance(timedelta(seconds=61))
    assert in_process.run_once() == 0
    delivered = in_process.store.outbox_item(item.id)
    assert delivered.delivered_at is not None and delivered.attempts == 3 and delivered.delivery_error is None
    assert len(smtp.handler.received) == 1


@pytest.mark.both_databases
def test_a_permanent_smtp_failure_fails_the_email_and_routes_the_case(
        in_process: InProcess, dovecot: Dovecot, account: str, smtp: SmtpServer, store: CaseStore) -> None:
    smtp.handler.answers = ["550 5.1.1 <priya.natarajan@gmail.com>: Recipient address rejected"]
    dovecot.append(account, crlf(GMAIL))
    assert in_process.run_once() == 0
    [item] = store.outbox()
    assert item.status == OutboxStatus.FAILED and "550 5.1.1" in (item.delivery_error or "")
    case = store.case(item.case_id)
    assert case.status == CaseStatus.WITH_REPRESENTATIVE and case.queue == "shop-desk"
    assert "could not be delivered" in (case.routed_reason or "")
    assert any(entry.what == "not delivered" and "550" in entry.detail for entry in case_timeline(store, case.id))
    in_process.clock.advance(timedelta(hours=2))
    assert in_process.run_once() == 0
    assert smtp.handler.received == []  # a failed email is never tried again

    status = CliRunner().invoke(app, ["status", "--db", store.url])
    assert "1 failed" in status.output and "550 5.1.1" in status.output
    show = CliRunner().invoke(app, ["show", case.number or "", "--db", store.url])
    assert "not delivered" in show.output


# --- the service as a process: signals, a restarted server, SIGKILL -----------------------------------

def test_the_service_waits_with_idle_survives_an_imap_restart_and_stops_cleanly_on_sigterm(
        dovecot: Dovecot, account: str, smtp: SmtpServer, catalog_file: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    service = ServiceProcess(service_args(dovecot, account, smtp, db, catalog_file, "--log-format", "json"),
                             tmp_path / "service.log")
    try:
        dovecot.append(account, customer_email(1))
        wait_for(lambda: len(smtp.handler.received) == 1, 60, "the reply to the first email")
        dovecot.restart()
        dovecot.append(account, customer_email(2))
        wait_for(lambda: len(smtp.handler.received) == 2, 60, "the reply to an email sent after the restart")
        stop_asked = time.monotonic()
        service.signal(signal.SIGTERM)
        assert service.wait(10) == 0, service.text()
        assert time.monotonic() - stop_asked < 10
    finally:
        if service.process.is_alive():
            service.process.kill()
    log = service.text()
    assert "IMAP" in log and '"level": "ERROR"' in log  # the lost connection, reported
    assert "service stopped" in log and PASSWORD not in log
    assert sorted(replies_to(smtp)) == ["<c1@example.org>", "<c2@example.org>"]


def test_sigterm_with_mail_waiting_finishes_the_email_in_hand_and_the_next_run_goes_on(
        dovecot: Dovecot, account: str, smtp: SmtpServer, catalog_file: Path, tmp_path: Path) -> None:
    for n in range(1, 31):
        dovecot.append(account, customer_email(n))
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    args = service_args(dovecot, account, smtp, db, catalog_file, "--poll", "0.5")  # polling, not IDLE
    service = ServiceProcess(args, tmp_path / "service.log")
    wait_for(lambda: len(smtp.handler.received) >= 3, 60, "three replies")
    service.signal(signal.SIGTERM)
    assert service.wait(10) == 0, service.text()
    stopped_at = len(smtp.handler.received)
    assert stopped_at < 30 and service.text().count("email imap://") == stopped_at  # each one it began, finished
    code, log = cli_in_fork([*args, "--once"], tmp_path / "again.log")
    assert code == 0, log
    assert log.count("email imap://") == 30 - stopped_at  # where the last run stopped
    replies = replies_to(smtp)
    assert len(replies) == 30 and all(len(answers) == 1 for answers in replies.values())


CHAOS_EMAILS = 100
CHAOS_KILLS = 4


def test_sigkill_at_random_points_loses_nothing_and_answers_each_email_once(
        dovecot: Dovecot, account: str, catalog_file: Path, tmp_path: Path) -> None:
    """Kills at random points, and two exactly between the SMTP server accepting an email and the
    service marking it delivered: with a Sent folder the server files sent mail in (as Gmail and
    Microsoft 365 do), such an email is found there after the restart and not sent again."""
    running: list[ServiceProcess] = []

    def kill_before_the_answer(accepted: int) -> None:
        if accepted in (7, 50):
            running[-1].signal(signal.SIGKILL)

    handler = SmtpHandler(file_in_sent=dovecot.appender(account, "Sent"),
                          after_accept=kill_before_the_answer)
    rng = random.Random(11)
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    for n in range(1, CHAOS_EMAILS + 1):
        dovecot.append(account, customer_email(n))
    with SmtpServer(handler) as smtp:
        args = service_args(dovecot, account, smtp, db, catalog_file, "--sent-folder", "Sent", "--tick-every",
                            "3600")
        rounds = 0
        while rounds < CHAOS_KILLS or len(handler.received) <= 50:  # past both kills in the SMTP answer
            assert rounds < 12, "the service makes no progress"
            service = ServiceProcess(args, tmp_path / f"service-{rounds}.log")
            running.append(service)
            target = len(handler.received) + rng.randint(5, 20)
            wait_for(lambda: len(handler.received) >= target or not service.process.is_alive(),  # noqa: B023
                     120,
                     f"{target} replies before kill {rounds + 1}")
            time.sleep(rng.uniform(0, 0.2))
            if service.process.is_alive():
                service.signal(signal.SIGKILL)
            service.wait(10)
            rounds += 1
        final = ServiceProcess([*args, "--once"], tmp_path / "service-final.log")
        running.append(final)
        assert final.wait(180) == 0, final.text()

    replies = replies_to(smtp)
    assert sorted(replies) == sorted(f"<c{n}@example.org>" for n in range(1, CHAOS_EMAILS + 1))
    assert all(len(answers) == 1 for answers in replies.values()), {k: len(v) for k, v in replies.items() if len(v) > 1}
    store = CaseStore(db)
    assert store.count_cases() == CHAOS_EMAILS and store.unfinished_runs() == []
    assert store.undelivered() == [] and store.failed_deliveries() == []
    store.close()
    logs = "".join(service.text() for service in running)
    assert logs.count("found in the Sent folder, not sent again") >= 2  # the two kills above, maybe a random one


# --- Microsoft 365: XOAUTH2 with msal client credentials -------------------------------------------------

def test_xoauth2_with_msal_client_credentials_against_dovecot(
        in_process: InProcess, dovecot: Dovecot, account: str, smtp: SmtpServer, identity: TokenService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """msal gets a token from a local authority (client credentials); Dovecot's oauth2 passdb
    checks it with that authority; the service reads the mailbox and sends through SMTP with it."""
    identity.clients[("case-agent-app", "app-secret")] = account
    monkeypatch.setenv("CASE_AGENT_OAUTH_TENANT", "contoso")
    monkeypatch.setenv("CASE_AGENT_OAUTH_CLIENT_ID", "case-agent-app")
    monkeypatch.setenv("CASE_AGENT_OAUTH_CLIENT_SECRET", "app-secret")
    monkeypatch.setenv("CASE_AGENT_OAUTH_AUTHORITY", identity.authority("contoso"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(identity.cert))
    url = f"imap://{account}@127.0.0.1:{dovecot.port}/INBOX?auth=xoauth2"
    smtp_url = f"smtp://{account}@127.0.0.1:{smtp.port}?auth=xoauth2"
    smtp.handler.bearer_accounts = identity.tokens
    dovecot.append(account, crlf(GMAIL))
    issued = identity.issued
    assert in_process.run_once(url, smtp_url) == 0
    dovecot.append(account, customer_email(1))
    assert in_process.run_once(url, smtp_url) == 0
    assert len(smtp.handler.received) == 2 and smtp.handler.xoauth2_logins == [account, account]
    assert identity.issued == issued + 1  # one token, kept in msal's in-memory cache for the second run


def test_a_refused_oauth_token_is_a_mailbox_error_without_the_token(
        in_process: InProcess, dovecot: Dovecot, account: str, tmp_path: Path, store: CaseStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-valid-token-4711\n")
    monkeypatch.setenv("CASE_AGENT_OAUTH_TOKEN_FILE", str(token_file))
    url = f"imap://{account}@127.0.0.1:{dovecot.port}/INBOX?auth=xoauth2"
    assert in_process.run_once(url) == 1
    [position] = store.mailbox_positions()
    assert "AUTHENTICATIONFAILED" in (position.last_error or "") and "4711" not in (position.last_error or "")


# --- the local connector and settings (no server needed) ------------------------------------------------

def test_the_local_connector_reads_a_folder_and_writes_sent_mail_once(catalog_file: Path, tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    (inbox / "001.eml").write_bytes(crlf(GMAIL))
    (inbox / "002.eml").write_bytes(crlf(OUT_OF_OFFICE))
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    args = ["run", "--once", "--mailbox", str(inbox), "--smtp", str(outbox), "--db", db, "--catalog", str(catalog_file)]
    code, log = cli_in_fork(args, tmp_path / "run.log")
    assert code == 0, log
    [sent] = list(outbox.glob("*.eml"))
    assert email.message_from_bytes(sent.read_bytes())["In-Reply-To"] == "<CAJx9Lm2kq7oPz4eV5w@mail.gmail.com>"
    (inbox / "003.eml").write_bytes(customer_email(1))
    code, log = cli_in_fork(args, tmp_path / "again.log")
    assert code == 0 and log.count("email ") == 1  # the stored position: only the new file
    assert len(list(outbox.glob("*.eml"))) == 2


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--mailbox", "pop3://support:hunter2@mail.example.com", "must start with imap:// or imaps://"),
    ("--mailbox", "imap://support@mail.example.com/INBOX", "no password"),
    ("--smtp", "smtp://support:hunter2@mail.example.com:25?starttls=maybe&debug=1", "unknown URL parameter(s) debug"),
    ("--after-processing", "move:", "choose keep, seen or move:FOLDER"),
])
def test_a_bad_mail_setting_is_one_line_and_exit_code_2_without_the_password(
        option: str, value: str, message: str, catalog_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASE_AGENT_MAILBOX_PASSWORD", raising=False)
    settings = {"--mailbox": "imap://support:hunter2@127.0.0.1:1/INBOX", "--smtp": "smtp://a:hunter2@127.0.0.1:1",
                "--after-processing": "keep", option: value}
    args = ["run", "--once", "--db", f"sqlite:///{tmp_path / 'cases.db'}", "--catalog", str(catalog_file)]
    for name, setting in settings.items():
        args += [name, setting]
    code, log = cli_in_fork(args, tmp_path / "run.log")
    assert code == 2 and message in log and "hunter2" not in log, log


def test_an_smtp_relay_without_an_account_takes_the_mail_without_a_login(
        in_process: InProcess, dovecot: Dovecot, account: str, smtp: SmtpServer) -> None:
    dovecot.append(account, crlf(APPLE_MAIL))
    assert in_process.run_once(smtp_url=f"smtp://127.0.0.1:{smtp.port}") == 0
    [reply] = smtp.handler.received
    assert reply.rcpt_tos == ["jose.garcia@icloud.com"] and reply.message["From"] == MAILBOX


def test_the_service_runs_the_clock_a_follow_up_goes_out_when_due(
        in_process: InProcess, dovecot: Dovecot, account: str, smtp: SmtpServer) -> None:
    dovecot.append(account, crlf(OUTLOOK))
    assert in_process.run_once() == 0
    [question] = smtp.handler.received
    in_process.clock.advance(timedelta(days=1))
    assert in_process.run_once() == 0
    assert len(smtp.handler.received) == 1  # follow_up.after is two days
    in_process.clock.advance(timedelta(days=1, minutes=1))
    assert in_process.run_once() == 0
    [_, follow_up] = smtp.handler.received
    assert follow_up.rcpt_tos == question.rcpt_tos
    assert follow_up.message["Message-ID"] != question.message["Message-ID"]
    assert follow_up.message["In-Reply-To"] == "<AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com>"
