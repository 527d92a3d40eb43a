"""Language detection on a customer's new text (agent_graph/brain/language.py) and its eval command.

The lines here are not in evals/languages/lines.jsonl: the rule was chosen on that file's dev half,
and these check it on text it has never seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent_graph.brain.language import detect_language, language_text
from agent_graph.labelled_set import LabelledSetError
from agent_graph.language_eval import load_lines, run_language_eval
from tests.conftest import REPO

READ = [
    ("en", "Hi, the microwave turntable stopped spinning yesterday and now the food only heats on one side."),
    ("en", "Could you let me know whether the gift card can still be used after it expires next month?"),
    ("es", "Buenas, el aire acondicionado gotea por dentro de casa y ya he tenido que poner un cubo debajo."),
    ("es", "Os pedí dos sartenes y solo ha venido una, ¿me mandáis la que falta o tengo que pedirla otra vez?"),
    ("de", "Guten Morgen, die Spülmaschine pumpt das Wasser nicht mehr ab und riecht inzwischen ziemlich unangenehm."),
    ("de", "Könnten Sie mir bitte sagen, ob ich den Gutschein auch im Laden in Hamburg einlösen kann?"),
    ("fr", "Bonjour, le micro-ondes fait des étincelles dès qu'on le lance, je n'ose plus m'en servir."),
    ("fr", "J'ai reçu deux poêles au lieu d'une seule, je vous renvoie l'autre ou vous passez la récupérer ?"),
    ("pt", "Olá, o ar condicionado está a pingar para dentro de casa e já tive de pôr um balde por baixo."),
    ("pt", "Pedi duas frigideiras e só veio uma, vocês mandam a que falta ou tenho de fazer outro pedido?"),
    ("it", "Buongiorno, il condizionatore gocciola dentro casa e ho dovuto mettere un secchio sotto."),
    ("it", "Avevo ordinato due padelle ma ne è arrivata solo una, mi mandate quella che manca?"),
    ("nl", "Goedemorgen, de airco druppelt binnen en ik heb er al een emmer onder moeten zetten."),
    ("nl", "Ik had twee koekenpannen besteld maar er zat er maar één in het pakket, sturen jullie de andere nog?"),
]


@pytest.mark.parametrize(("code", "text"), READ)
def test_the_language_of_a_customer_sentence_is_read(code: str, text: str) -> None:
    assert detect_language(text) == code


MIXED = [
    ("en", "The tracking page keeps saying 'Sendung wird zugestellt' but nobody has come by all week."),
    ("es", "Al intentar entrar me sale 'Your session has expired, please log in again' una y otra vez."),
    ("de", "Bitte schicken Sie die Rechnung an accounts@example.co.uk, Bestellung B-77120 vom 04.02.2026."),
    ("fr", "Mon numéro client est 99812-C et je suis joignable au +33 6 12 34 56 78 toute la journée."),
]


@pytest.mark.parametrize(("code", "text"), MIXED)
def test_quoted_foreign_messages_numbers_and_addresses_do_not_decide(code: str, text: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["ok", "OK 👍", "TT-240617", "B-77120", "+44 20 7946 0958", "€ 129,00",
                                  "https://shop.example/orders/77120", "", "   \n ", "merci", "Danke", "gracias",
                                  "Order B-77120 ok"])
def test_too_short_or_no_language_is_unknown(text: str) -> None:
    assert detect_language(text) is None


def test_language_text_keeps_only_words() -> None:
    text = "Order B-77120, see https://shop.example/x or mail me at a.b@example.org; it says 'Zugestellt am Montag' ok"
    assert language_text(text) == "Order see or mail me at it says ok"
    assert language_text("'Payment declined' sale cuando pago") == "sale cuando pago"
    # a quote with too few words around it is kept: it may be all the customer wrote
    assert language_text("'Sigue sin funcionar la lavadora' dice") == "'Sigue sin funcionar la lavadora' dice"


def test_a_very_long_text_is_read_from_its_start() -> None:
    assert detect_language("Hallo, die Waschmaschine läuft nicht mehr richtig. " * 2000) == "de"


def test_no_network_is_used_to_load_or_detect() -> None:
    """In a fresh process whose sockets all refuse, the model loads and detects."""
    script = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        from agent_graph.brain.language import detect_language
        print(detect_language("Bonjour, je n'ai toujours pas reçu ma commande."))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fr"


def _lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_eval_scores_each_half_and_counts_wrong_languages(tmp_path: Path) -> None:
    rows = [
        {"text": "Mi pedido no ha llegado todavía y ya ha pasado una semana entera.", "lang": "es",
         "too_short": False, "kind": "sentence", "split": "dev"},
        {"text": "Mein Paket ist immer noch nicht angekommen, obwohl es versprochen war.", "lang": "fr",
         "too_short": False, "kind": "sentence", "split": "dev"},  # labelled wrong on purpose: a wrong answer
        {"text": "ok", "lang": None, "too_short": True, "kind": "neutral", "split": "held"},
        {"text": "Hello,\n\nmy parcel still has not arrived, could you look into it please?\n\nDana", "lang": "en",
         "too_short": False, "kind": "email", "split": "held"},
    ]
    report = run_language_eval(_lines(tmp_path / "lines.jsonl", rows))
    dev, held = report.splits["dev"], report.splits["held"]
    assert dev.per_language["es"].longer_right == 1
    assert dev.per_language["fr"].wrong == 1 and dev.total.wrong == 1
    assert [m.detected for m in dev.misses] == ["de"]
    assert held.per_language["none"].short_unknown == 1 and held.per_language["en"].longer_right == 1
    assert report.timing.microseconds_per_email > 0


def test_a_malformed_line_is_named(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", [{"text": "hola", "lang": "spanish", "too_short": True,
                                           "kind": "short", "split": "dev"}])
    with pytest.raises(LabelledSetError, match="bad.jsonl:1"):
        load_lines(path)


def test_the_shipped_lines_are_well_formed_and_cover_the_languages() -> None:
    rows = load_lines(REPO / "evals/languages/lines.jsonl")
    assert len(rows) >= 300
    for code in ("en", "es", "de", "fr", "pt", "it", "nl"):
        assert sum(r.lang == code for r in rows) >= 40
        assert any(r.lang == code and r.too_short for r in rows)
    assert len({r.text for r in rows}) == len(rows)


def test_eval_languages_command(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "agent_graph.cli", "eval-languages", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "held half" in done.stdout and "µs per line" in done.stdout
    report = json.loads(out.read_text())
    assert report["splits"]["held"]["total"]["wrong"] == 0
