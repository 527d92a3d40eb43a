"""The case remembers its customer's language: detected on each of the customer's emails (new text
only), kept when a reply is too short to tell, never changed by anyone else's email; `show` says it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent_graph.store import CaseStore
from tests.conftest import REPO, email

SPANISH = "Hola, quiero devolver la bicicleta que compré la semana pasada, me queda demasiado grande."
GERMAN = "Ich habe es mir anders überlegt: das Fahrrad ist doch zu groß, bitte holen Sie es wieder ab."


def _last_message(store: CaseStore, case_id: int) -> str:
    """The case's latest message (the catalog answers only in English: a Spanish case goes to a
    representative, with no email of ours to reply to)."""
    return store.messages(case_id)[-1].message_id


def test_the_case_keeps_the_customers_language_through_a_short_reply_and_follows_a_switch(make_agent, store):
    agent = make_agent()
    first = agent.process_email(email(SPANISH, subject="Devolución"))
    assert store.case(first.case_id).language == "es"

    agent.process_email(email("TT-2406", n=2, in_reply_to=_last_message(store, first.case_id)))
    assert store.case(first.case_id).language == "es"  # a reference alone tells no language

    agent.process_email(email(GERMAN, n=3, in_reply_to=_last_message(store, first.case_id)))
    assert store.case(first.case_id).language == "de"
    notes = [i for i in store.interactions(first.case_id) if i.kind == "language"]
    assert [(n.detail["language"], n.detail["was"]) for n in notes] == [("es", None), ("de", "es")]


def test_quoted_history_does_not_decide_the_language(make_agent, store):
    agent = make_agent()
    body = f"Ok\n\nOn Mon, 2 Mar 2026 at 09:00, Support <help@tidewater.example> wrote:\n> {SPANISH}\n> {SPANISH}"
    first = agent.process_email(email(body, subject="Return"))
    assert store.case(first.case_id).language is None  # "Ok" tells nothing; the quoted Spanish is not theirs


def test_an_email_from_someone_else_does_not_change_the_language(make_agent, store):
    agent = make_agent()
    first = agent.process_email(email(SPANISH, subject="Devolución"))
    agent.process_email(email(GERMAN, n=2, sender="Sam <sam@example.com>",
                              in_reply_to=_last_message(store, first.case_id)))
    assert store.case(first.case_id).language == "es"


def test_show_names_the_language(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'cases.db'}"
    eml = tmp_path / "1.eml"
    eml.write_bytes(email("Bonjour, je voudrais me faire rembourser le vélo que j'ai acheté, il est trop grand.",
                          subject="Remboursement"))
    cli = [sys.executable, "-m", "agent_graph.cli"]
    processed = subprocess.run([*cli, "process", str(eml), "--db", db, "--catalog", "examples/catalog.yaml"],
                               cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert processed.returncode == 0, processed.stderr
    shown = subprocess.run([*cli, "show", "CAS-000001", "--db", db], cwd=REPO, capture_output=True, text=True,
                           timeout=300, check=False)
    assert "language fr" in shown.stdout
