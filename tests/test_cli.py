"""The command line, run as a user would: the installed entry point in a subprocess."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent_graph.cli import app
from agent_graph.store import CaseStore
from tests.conftest import REPO, email

CLI = [sys.executable, "-m", "agent_graph.cli"]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_help_explains_every_command():
    out = run("--help").stdout
    for command in ("demo", "process", "tick", "cases", "show", "check-catalog", "eval", "review"):
        assert command in out


COMMANDS = [[], ["process"], ["tick"], ["review"], ["cases"], ["show"], ["status"], ["check-catalog"], ["eval"],
            ["eval-intents"], ["bench"], ["demo"], ["eval-replies"], ["quarantine"], ["quarantine", "list"],
            ["quarantine", "show"], ["quarantine", "retry"], ["quarantine", "drop"], ["field"], ["export"], ["report"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "case-agent")
def test_help_reads_like_a_manual(command: list[str]):
    """Options with a word for their value (--db URL), arguments by name (CASE), no Python types."""
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    for raw in ("<bool>", "<str>", "<int>", "<float>", "<path>", "<list", "{"):
        assert raw not in result.output, f"{raw} in the help of {command}"


def test_process_help_names_each_value():
    out = CliRunner().invoke(app, ["process", "--help"], terminal_width=100).output
    assert "process [OPTIONS] PATH" in out and "--db URL" in out and "--catalog FILE" in out
    assert "--automation LOB=LEVEL" in out and "--now TIME" in out


def test_help_imports_no_heavy_module():
    """`--help`, `cases` and `show` start fast because the command line imports the classifier, the
    graph, the store and the extractors only in the commands that use them (speed: README)."""
    heavy = ("sklearn", "langgraph", "sqlalchemy", "dateparser", "phonenumbers", "agent_graph.service",
             "agent_graph.brain.extractors", "agent_graph.graph")
    code = f"import sys, agent_graph.cli; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_default_catalog_is_found_from_any_folder(tmp_path: Path):
    ticked = run("tick", "--db", f"sqlite:///{tmp_path / 'cases.db'}", cwd=tmp_path)
    assert ticked.returncode == 0 and "0 case(s) acted on" in ticked.stdout, ticked.stderr


def test_a_missing_catalog_is_not_found(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    line = refused("tick", "--db", f"sqlite:///{tmp_path / 'cases.db'}", "--catalog", str(missing))
    assert line == f"error: catalog not found: {missing}"


def test_status_values_are_checked(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    CaseStore(db).close()
    result = CliRunner().invoke(app, ["cases", "--db", db, "--status", "open"])
    assert result.exit_code == 2 and "'open' is not one of 'new', 'awaiting_customer'" in result.output
    assert CliRunner().invoke(app, ["cases", "--db", db, "--status", "resolution_proposed"]).exit_code == 0


def test_check_catalog_summary_and_errors(tmp_path: Path):
    ok = run("check-catalog", "examples/catalog.yaml")
    assert ok.returncode == 0 and "valid" in ok.stdout and "orders" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "examples/catalog.yaml").read_text().replace("automation: full", "automation: always", 1))
    failed = run("check-catalog", str(bad))
    assert failed.returncode == 2
    assert "bad.yaml: lines_of_business[0].automation" in failed.stderr


@pytest.mark.both_databases
def test_process_review_tick_cases_show(tmp_path: Path, db_url: str):
    db = db_url
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    body = "Hello, I was charged twice for order ORD-123456 - $89.99 on 3 March 2026. Please fix it. Sam"
    (inbox / "1.eml").write_bytes(email(body, subject="Charged twice", sender="Sam Lee <sam@example.net>")
                                  .replace(b"help@tidewater.example", b"support@pinecrest.example"))
    (inbox / "2.eml").write_text("this is not an email at all")
    processed = run("process", str(inbox), "--db", db, "--now", "2026-03-04T09:00:00Z")
    assert processed.returncode == 0  # one file could not be read and waits in the quarantine; the other was processed
    assert "2.eml" in processed.stderr and "nothing was sent" in processed.stderr
    assert "1 processed, 1 quarantined" in processed.stdout
    assert "CAS-000001" in processed.stdout and "drafted" in processed.stdout
    listed = run("review", "--db", db)
    assert "CAS-000001" in listed.stdout
    accepted = run("review", "CAS-000001", "--accept", "--db", db, "--now", "2026-03-04T10:00:00Z")
    assert accepted.returncode == 0 and "sent" in accepted.stdout
    ticked = run("tick", "--db", db, "--now", "2026-03-07T09:00:00Z")
    assert "follow_up" in ticked.stdout
    table = run("cases", "--db", db)
    assert "CAS-000001" in table.stdout and "pending_review" in table.stdout  # the follow-up is drafted (confirm)
    timeline = run("show", "CAS-000001", "--db", db)
    assert "email in" in timeline.stdout and "draft_accepted" in timeline.stdout and "email out" in timeline.stdout
    again = run("process", str(inbox / "1.eml"), "--db", db)
    assert "duplicate" in again.stdout


def test_eval_writes_json(tmp_path: Path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(REPO / "evals/threads/catalog.yaml", suite)
    for name in ("orders-missing-order-number-one-round.json", "orders-bounce-ignored.json"):
        shutil.copy(REPO / "evals/threads" / name, suite)
    (suite / "broken.json").write_text("{not json")
    out = tmp_path / "report.json"
    result = run("eval", str(suite), "--json", str(out))
    assert result.returncode == 0
    report = json.loads(out.read_text())
    assert report["threads"] == 3 and report["succeeded"] == 2
    assert set(report["unsafe_by_kind"]) == {"sent_without_approval", "wrong_recipient", "premature_close",
                                             "replied_to_automatic", "wrong_resolution"}
    assert {"thread", "turn", "ok", "actual", "failures"} <= set(report["results"][0])
    assert "broken.json" in report["errors"][0]["error"]


def test_commands_on_an_empty_store(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    CaseStore(db).close()
    listed = run("cases", "--db", db)
    assert listed.returncode == 0 and "case" in listed.stdout and "CAS-" not in listed.stdout, listed.stderr
    shown = run("show", "CAS-000001", "--db", db)
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.strip() == f"error: no case CAS-000001 in {db}"


# --- configuration errors: one line on stderr, exit code 2, never a traceback ----------------------------

CATALOG = str(REPO / "examples/catalog.yaml")


def refused(*args: str) -> str:
    """Run the command in-process; it must stop with exit code 2 and one line on stderr, which is returned."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["cases"], ["show", "CAS-000001"], ["review", "--catalog", CATALOG],
                                     ["review", "CAS-000001", "--accept", "--catalog", CATALOG]])
def test_read_commands_refuse_a_missing_database_instead_of_creating_one(tmp_path: Path, command):
    typo = tmp_path / "cases-typo.db"
    line = refused(*command, "--db", f"sqlite:///{typo}")
    assert f"no case database at {typo}" in line and "case-agent process" in line
    assert not typo.exists()


def test_write_commands_still_create_the_database(tmp_path: Path):
    result = CliRunner().invoke(app, ["tick", "--db", f"sqlite:///{tmp_path / 'new.db'}", "--catalog", CATALOG])
    assert result.exit_code == 0 and (tmp_path / "new.db").exists()


@pytest.mark.parametrize(("path", "problem"), [
    ("{tmp}/no-such-folder/cases.db", "there is no folder {tmp}/no-such-folder"),
    ("{tmp}", "{tmp} is a folder, not a case database"),
    ("/proc/cases.db", "cannot open the case database /proc/cases.db"),  # a folder nobody may create files in
    ("{tmp}/not-a-db.db", "cannot open the case database {tmp}/not-a-db.db: file is not a database"),
])
def test_unusable_database_path(tmp_path: Path, path: str, problem: str):
    (tmp_path / "not-a-db.db").write_text("these are not the cases you are looking for\n" * 100)
    path, problem = path.format(tmp=tmp_path), problem.format(tmp=tmp_path)
    assert problem in refused("tick", "--db", f"sqlite:///{path}", "--catalog", CATALOG)
    refused("cases", "--db", f"sqlite:///{path}")  # one line too (where no file is, 'no case database at')


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only file")
def test_read_only_database_file(tmp_path: Path):
    db = tmp_path / "cases.db"
    CaseStore(f"sqlite:///{db}").close()
    db.chmod(0o444)
    assert "the file is not readable and writable" in refused("tick", "--db", f"sqlite:///{db}", "--catalog", CATALOG)


@pytest.mark.parametrize(("url", "module", "named"), [
    ("postgresql+psycopg://cases:secret@127.0.0.1:1/cases", None,
     "cannot open the case database postgresql+psycopg://cases:***@127.0.0.1:1/cases"),  # no server there
    ("mysql://cases@db.example/cases", "MySQLdb", "the database driver for 'mysql' is not installed: pip install mysqlclient"),
    ("cassandra://db.example/cases", None, "unknown kind of database 'cassandra'"),
    ("cases.db", None, "not a database URL: 'cases.db'"),
])
def test_database_url_without_its_driver_or_not_a_url(url: str, module: str | None, named: str):
    if module is not None and importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    line = refused("cases", "--db", url)
    assert named in line and "secret" not in line


def test_catalog_not_utf8(tmp_path: Path):
    catalog = tmp_path / "latin1.yaml"
    raw = (REPO / "examples/catalog.yaml").read_text().replace("Pinecrest", "Pinécrest", 1).encode("latin-1")
    catalog.write_bytes(raw)
    offset = raw.index("é".encode("latin-1"))
    expected = f"latin1.yaml: byte {offset} (line"
    assert expected in refused("check-catalog", str(catalog))
    assert expected in refused("tick", "--catalog", str(catalog), "--db", f"sqlite:///{tmp_path / 'c.db'}")


def test_yaml_alias_bomb_is_one_short_line(tmp_path: Path):
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(levels) + "\norganisation: *i\n")
    line = refused("check-catalog", str(bomb))
    assert "YAML aliases" in line and len(line) < 300


def test_a_template_that_escapes_the_sandbox_fails_check_catalog(tmp_path: Path):
    text = (REPO / "examples/catalog.yaml").read_text()
    catalog = tmp_path / "escape.yaml"
    catalog.write_text(text.replace("{{ organisation }}", "{{ organisation.__class__.__mro__[1].__subclasses__() }}", 1))
    assert "__subclasses__" in catalog.read_text()
    line = refused("check-catalog", str(catalog))
    assert "escape.yaml: " in line and "is unsafe" in line and "template '" in line


@pytest.mark.parametrize("command", [["tick"], ["process", "1.eml"], ["review"]])
def test_now_not_iso8601(tmp_path: Path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1.eml").write_bytes(email("Hello, where is my order?"))
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    CaseStore(db).close()
    line = refused(*command, "--now", "next tuesday", "--db", db, "--catalog", CATALOG)
    assert "--now 'next tuesday': not an ISO-8601 instant" in line


def test_unknown_brain():
    assert "unknown brain 'gpt': choose 'offline' or 'llm'" in refused("eval", str(REPO / "evals/threads"), "--brain", "gpt")


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.txt", None, "cannot read the file: No such file or directory"),
    ("latin1.txt", "Bonjour, voilà".encode("latin-1"), f"not UTF-8 text (byte {len('Bonjour, voil')})"),
])
def test_edit_body_file_unreadable(tmp_path: Path, name: str, content: bytes | None, problem: str):
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    CaseStore(db).close()
    body = tmp_path / name
    if content is not None:
        body.write_bytes(content)
    line = refused("review", "CAS-000001", "--edit-body", str(body), "--db", db, "--catalog", CATALOG)
    assert f"--edit-body {body}: {problem}" in line


@pytest.mark.parametrize(("target", "problem"), [
    ("no-such-folder/report.json", "there is no folder {tmp}/no-such-folder"),
    (".", "that is a folder"),
])
def test_eval_json_path_is_checked_before_the_eval_runs(tmp_path: Path, target: str, problem: str):
    """One line: had the eval run, its progress ('replaying …') would be on stderr too."""
    line = refused("eval", str(REPO / "evals/threads"), "--json", str(tmp_path / target))
    assert problem.format(tmp=tmp_path) in line


def test_demo_with_a_database_url_that_is_not_one():
    assert "not a database URL: 'demo.db'" in refused("demo", "--db", "demo.db")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_demo_on_a_server_database_runs_once_and_never_shows_the_password(db_url: str):
    secret = db_url.replace("postgres@", "postgres:pw-not-shown@")  # trust authentication ignores it
    first = CliRunner().invoke(app, ["demo", "--db", secret])
    assert first.exit_code == 0, first.output
    assert "pw-not-shown" not in first.output and "postgres:***@" in first.output
    again = CliRunner().invoke(app, ["demo", "--db", secret])
    assert again.exit_code == 2 and "the demo needs an empty database" in again.output
    assert "pw-not-shown" not in again.output
