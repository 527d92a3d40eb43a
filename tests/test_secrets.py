"""Secrets never leak: API keys, passwords and tokens appear in no file a run of the service wrote (logs,
stderr, the SQLite store and checkpoints, sent mail, the outputs of the reading commands) and, on
PostgreSQL, in no row of any table (the store's and LangGraph's) nor in the server's log.

``case-agent run --once`` runs in a child process (forked, as in tests/test_mail_service.py) with its
folder, HOME and TMPDIR inside one root folder, which is searched file by file afterwards:

1. over a local mailbox folder, with the language-model brain against tests/openai_standin.py and its
   API key in the environment (and, on PostgreSQL, a password in the database URL);
2. over Dovecot and an SMTP server, the IMAP password in CASE_AGENT_MAILBOX_PASSWORD and the SMTP one
   in the URL;
3. over Dovecot and SMTP with XOAUTH2: an OAuth client secret given to msal, and the access tokens it got;
4. the failures: a wrong IMAP password, an SMTP server that is down, a model server answering 500.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from typer.testing import CliRunner

from agent_graph.cli import app
from agent_graph.store import CaseStore
from agent_graph.store.repository import database_url
from tests.mailservers import PASSWORD, Dovecot, SmtpServer, TokenService, free_port
from tests.openai_standin import Failure, OpenAIStandin
from tests.pgserver import PostgresCluster
from tests.test_mail_service import (  # noqa: F401 - fixtures
    GMAIL,
    account,
    catalog_file,
    cli_in_fork,
    crlf,
    customer_email,
    dovecot,
    identity,
    smtp,
)

pytestmark = pytest.mark.both_databases

API_KEY = "sk-proj-CANARY4api7key9Qw3zX"
OAUTH_SECRET = "CANARY-oauth-client-secret-5Tr8"
WRONG_PASSWORD = "CANARY-wrong-password-2Lk6"
DB_PASSWORD = "CANARY-db-password-8Hn1"


def leaks(data: bytes, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets in ``data``, as written or URL-encoded."""
    return [name for name, secret in secrets.items()
            if secret.encode() in data or quote(secret, safe="").encode() in data]


def files_under(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def rows_of(url: str) -> bytes:
    """Every row of every table of a PostgreSQL database, values as bytes (bytea as is)."""
    conninfo = database_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    chunks: list[bytes] = []
    with psycopg.connect(conninfo) as connection:
        tables = [name for (name,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                chunks += [bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                           for value in row]
    assert {"cases", "messages", "checkpoints", "checkpoint_blobs"} <= set(tables)
    return b"\n".join(chunks)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """The runs' folder, HOME and TMPDIR: every file they write lands under it. The servers start before
    (Dovecot's socket paths under a deep TMPDIR would be too long)."""
    for server in ("dovecot", "identity", "smtp"):
        request.getfixturevalue(server)
    folder = tmp_path / "root"
    (folder / "home").mkdir(parents=True)
    (folder / "tmp").mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HOME", str(folder / "home"))
    monkeypatch.setenv("TMPDIR", str(folder / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # recomputed from TMPDIR
    return folder


@pytest.fixture
def warm(request: pytest.FixtureRequest) -> None:
    """What every run loads, loaded in this process once, so the forked runs start at once."""
    from agent_graph.brain.intent import classifier_for
    from agent_graph.brain.llm.brain import LLMBrain
    from agent_graph.catalog import load_catalog
    from agent_graph.graph import build_graph
    from agent_graph.mail import imap, oauth
    from agent_graph.mail import smtp as smtp_sender

    assert LLMBrain and imap and oauth and smtp_sender and build_graph
    import langchain_core.exceptions
    import langchain_core.messages
    import langchain_openai

    assert langchain_openai and langchain_core.messages and langchain_core.exceptions
    classifier_for(load_catalog(request.getfixturevalue("catalog_file")))


@pytest.fixture
def database(db_url: str, request: pytest.FixtureRequest) -> str:
    """The test's database; on PostgreSQL with a password in the URL (the test cluster trusts, so takes any)."""
    if not db_url.startswith("postgresql"):
        return f"sqlite:///{Path.cwd() / 'cases.db'}"
    return database_url(db_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


def test_no_secret_in_any_file_the_service_wrote(warm: None, root: Path, database: str,
                                                 monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # the mail servers' fixtures of tests/test_mail_service.py (imported above)
    imap_server: Dovecot = request.getfixturevalue("dovecot")
    mailbox_account: str = request.getfixturevalue("account")
    smtp_server: SmtpServer = request.getfixturevalue("smtp")
    idp: TokenService = request.getfixturevalue("identity")
    catalog_path: Path = request.getfixturevalue("catalog_file")
    secrets = {"OpenAI API key": API_KEY, "mail password": PASSWORD, "OAuth client secret": OAUTH_SECRET,
               "wrong IMAP password": WRONG_PASSWORD, "database password": DB_PASSWORD}
    logs = root / "logs"
    logs.mkdir()
    common = ["--db", database, "--catalog", str(catalog_path), "--log-format", "json"]

    with OpenAIStandin("benign") as model:
        monkeypatch.setenv("CASE_AGENT_BRAIN", "llm")
        monkeypatch.setenv("CASE_AGENT_LLM_BASE_URL", model.base_url)
        monkeypatch.setenv("CASE_AGENT_LLM_MODEL", "standin-model")
        monkeypatch.setenv("CASE_AGENT_LLM_MAX_RETRIES", "0")
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)

        # 1. a local mailbox folder, the model's key in the environment
        inbox, outbox = root / "in", root / "out"
        inbox.mkdir()
        outbox.mkdir()
        (inbox / "001.eml").write_bytes(crlf(GMAIL))
        (inbox / "002.eml").write_bytes(customer_email(1, "I want to return my bike, order TB-1234."))
        code, log = cli_in_fork(["run", "--once", "--mailbox", str(inbox), "--smtp", str(outbox), *common],
                                logs / "local.log")
        assert code == 0, log
        assert list(outbox.glob("*.eml")), "the local run sent mail"

        # 2. IMAP and SMTP with passwords (IMAP's from the environment, SMTP's in the URL)
        monkeypatch.setenv("CASE_AGENT_MAILBOX_PASSWORD", PASSWORD)
        imap_server.append(mailbox_account, customer_email(2))
        imap = f"imap://{mailbox_account}@127.0.0.1:{imap_server.port}/INBOX"
        code, log = cli_in_fork(["run", "--once", "--mailbox", imap, "--smtp", smtp_server.url(), *common],
                                logs / "imap.log")
        assert code == 0, log
        monkeypatch.delenv("CASE_AGENT_MAILBOX_PASSWORD")

        # 3. XOAUTH2: msal's client credentials against the local authority; a failing model on the way
        idp.clients[("case-agent-app", OAUTH_SECRET)] = mailbox_account
        smtp_server.handler.bearer_accounts = idp.tokens
        for name, value in {"CASE_AGENT_OAUTH_TENANT": "contoso", "CASE_AGENT_OAUTH_CLIENT_ID": "case-agent-app",
                            "CASE_AGENT_OAUTH_CLIENT_SECRET": OAUTH_SECRET,
                            "CASE_AGENT_OAUTH_AUTHORITY": idp.authority("contoso"),
                            "REQUESTS_CA_BUNDLE": str(idp.cert)}.items():
            monkeypatch.setenv(name, value)
        model.script(Failure(500, message="the model is overloaded"))
        imap_server.append(mailbox_account, customer_email(3))
        code, log = cli_in_fork(["run", "--once", "--mailbox", f"{imap}?auth=xoauth2",
                                 "--smtp", f"smtp://{mailbox_account}@127.0.0.1:{smtp_server.port}?auth=xoauth2", *common],
                                logs / "oauth.log")
        assert code == 0, log
        secrets |= {f"access token {n}": token for n, token in enumerate(idp.tokens)}
        assert len(smtp_server.handler.received) >= 2 and idp.tokens

        # 4. a wrong IMAP password; then a draft to deliver through an SMTP server that is down
        monkeypatch.setenv("CASE_AGENT_MAILBOX_PASSWORD", WRONG_PASSWORD)
        code, log = cli_in_fork(["run", "--once", "--mailbox", imap, "--smtp", smtp_server.url(), *common],
                                logs / "wrong-password.log")
        assert code == 1 and "AUTHENTICATIONFAILED" in log, log
        monkeypatch.setenv("CASE_AGENT_MAILBOX_PASSWORD", PASSWORD)
        imap_server.append(mailbox_account, customer_email(4))
        down = f"smtp://agent:{PASSWORD}@127.0.0.1:{free_port()}"
        code, log = cli_in_fork(["run", "--once", "--mailbox", imap, "--smtp", down, *common], logs / "smtp-down.log")
        assert code == 0 and "refused" in log.lower(), log
        assert len(model.requests) >= 4, "the language-model brain read the emails"

    # what the reading commands print (a person reads these, and may paste them anywhere)
    store = CaseStore(database, create=False)
    numbers = [case.number for case in store.list_cases() if case.number]
    store.close()
    assert len(numbers) >= 4
    for args in (["status"], ["cases"], ["quarantine", "list"], ["review"],
                 *(["show", number] for number in numbers)):
        out = CliRunner().invoke(app, [*args, "--db", database])
        assert out.exit_code == 0, out.output
        (logs / f"{'-'.join(args)}.txt").write_text(out.output)

    found = {str(path.relative_to(root)): names for path in files_under(root)
             if (names := leaks(path.read_bytes(), secrets))}
    written = [str(path.relative_to(root)) for path in files_under(root)]
    if database.startswith("sqlite"):
        assert {"cases.db", "cases.checkpoints.db"} <= set(written), written
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        for where, data in (("PostgreSQL rows", rows_of(database)), ("PostgreSQL server log", cluster.log.read_bytes())):
            if names := leaks(data, secrets):
                found[where] = names
    found |= {f"mail sent #{n}": names for n, received in enumerate(smtp_server.handler.received)
              if (names := leaks(received.raw, secrets))}
    assert not found, f"secrets leaked: {found}"
    assert len(written) >= 10, written  # logs, stores, sent mail, command outputs


def test_the_search_finds_a_secret_however_it_is_written(tmp_path: Path) -> None:
    """The check above finds a secret as written and URL-encoded, in text and in binary files."""
    secrets = {"key": "sk-a/b+c=d"}
    assert leaks(b"\x00\x01key=sk-a/b+c=d\xff", secrets) == ["key"]
    assert leaks(b"url: https://x?key=sk-a%2Fb%2Bc%3Dd", secrets) == ["key"]
    assert leaks(b"sk-a/b+c", secrets) == []
