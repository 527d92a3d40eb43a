"""Implicit acceptances (behaviour.md §7): a customer who confirms the outcome accepts; "thanks,
but …", questions and partial outcomes do not. And ``case-agent eval-replies`` on the labelled set.

The sentences here are written for these tests and are not in evals/replies/replies.jsonl.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_graph.brain.replies import ReplyReading, classify_reply, read_reply
from agent_graph.brain.types import ReplyKind
from agent_graph.labelled_set import LabelledSetError, Split
from agent_graph.reply_eval import (
    DEFAULT_DATA,
    LabelledReply,
    load_labelled,
    run_reply_eval,
    score,
)
from tests.conftest import REPO, reply_cases

OUTCOME_CONFIRMED = [
    # money appeared
    "The cashback is in my wallet now, cheers", "Yep, refund's hit my account.",
    "Can confirm the payment has cleared on my side.", "Finally got my money back!! 🙌",
    "Glad to say the money is back where it belongs.", "Checked this morning: the credit note is there.",
    # goods arrived
    "Box arrived on the doorstep this afternoon, thx", "The order turned up in one piece 😊", "it's come 👍",
    "Took a few days but it's arrived", "Received, many thanks.", "Voucher code came through by email, thank you",
    # access back
    "Just logged on without any issue, thanks for unlocking it", "Password reset went fine, I'm in.",
    "Reset worked, back in my account now.", "Now is everything ok with my account, thanks you",
    # the fix works
    "the washing machine is spinning properly again", "App doesn't crash anymore, thanks",
    "No longer getting the error, cheers", "The technician has been and the boiler is firing up fine.",
    "Update: the stove lights first time now.", "Replacement router installed by the tech today and the internet's back.",
    "Seems to be working now", "Sorted my end too, ta", "Everything went through fine this time.",
]
NEEDS_HELP = [
    # thanks, but …
    "Thanks, but I'd still like an explanation", "Cheers, however I'm locked out again",
    "Appreciate the help, though the light is still flashing",
    # partial or spoiled outcomes
    "Arrived, but two of the plates were in pieces", "The money came through, although it's less than I paid",
    "It logs in now, apart from the fact that my orders have vanished", "Everything arrived except the cable",
    "Only half of it has been refunded", "Working on wifi, not on mobile data", "The refund came in the wrong currency",
    "I can log in now, thanks. My balance shows zero though.", "I logged in and the money is gone",
    "Thanks, the parcel came. The charger inside is dead though.", "It's working now but slow",
    # the outcome did not happen
    "The tracking says it was delivered yesterday, no sign of it", "It should have been here by now",
    "The refund hasn't hit my account", "Nope, not arrived", "The parcel never turned up", "Money's not in yet",
    "i cant get in still", "You charged me again this morning.", "It was supposed to arrive today",
    # questions
    "Can you confirm when the refund was sent?", "Has it been posted yet?", "Did the refund go through?",
    "Thanks. Is there anything I need to sign?", "Please confirm it's been delivered",
    # the outcome shown wrong or delivered to the old place
    "It came to the old address.", "The app doesn't show the new date.",
]
# the customer tells what they did with the outcome, or that nothing more is needed
OUTCOME_ACTED_ON = [
    "Collected it from the pharmacy on my way home.", "Picked up my glasses at lunchtime.",
    "Fetched them from the depot this morning, thanks.", "The new card came to my flat yesterday.",
    "The portal now says Platinum.", "My account shows the new address now.", "No need to respond.",
    "No need to get back to me, the site lists the 3pm slot now.", "So we are good, cheers.",
]
# a value the customer gave, replaced: new information for the case (decided again), never an acceptance
CORRECTIONS = [
    "Typo on my side - the pickup is 14:30, not the 12:30 I wrote.", "I gave you the wrong reg, it's KX21 ABC.",
    "Whoops, wrong date - 21 August please.", "Great, thanks. Small thing though: it should say 2 adults, not 3.",
    "Perfect, thanks. Actually it should be the 16th, not the 14th.",
]
# ... but the resolution blamed for a wrong value, with no value given, needs a person
WRONG_VALUE_COMPLAINTS = [
    "You've moved the wrong reservation.", "Sorry, but you cancelled the wrong booking.",
    "That's the wrong card, I don't have one ending 4417.",
]
OTHER = [
    "Will have a look when I'm home tonight.", "I'll confirm once it's landed.", "Fingers crossed it's there tomorrow.",
    "Can do, will check later", "Hopefully the money lands this week.", "I'll get back to you when it arrives",
    "If it arrives tomorrow that's great", "My husband is back on Monday, he will check", "The engineer is here now.",
]


@pytest.mark.parametrize(("text", "kind"), reply_cases(
    (ReplyKind.ACCEPTS, OUTCOME_CONFIRMED),  # a confirmed outcome accepts
    (ReplyKind.ACCEPTS, OUTCOME_ACTED_ON),  # so does acting on it
    (ReplyKind.ACCEPTS, ["Sorted.", "Perfect."]),  # a one-word acceptance is no signature
    (ReplyKind.NEEDS_HELP, NEEDS_HELP),  # "thanks, but …", partial outcomes and questions
    (ReplyKind.OTHER, OTHER),  # plans, hopes and conditions are no acceptance
))
def test_reply_kind(text: str, kind: ReplyKind) -> None:
    assert classify_reply(text) is kind


@pytest.mark.parametrize("correction", CORRECTIONS)
def test_a_corrected_value_is_new_information(correction: str) -> None:
    assert classify_reply(correction) is ReplyKind.OTHER
    assert all(classify_reply(complaint) is ReplyKind.NEEDS_HELP for complaint in WRONG_VALUE_COMPLAINTS)


# --- the measurement --------------------------------------------------------------------------------


def test_labelled_set_is_large_balanced_and_split() -> None:
    rows = load_labelled(REPO / DEFAULT_DATA)
    assert len(rows) >= 150
    for split in Split:
        in_split = [r for r in rows if r.split is split]
        assert {r.label for r in in_split} == set(ReplyKind)
        assert len(in_split) >= 0.4 * len(rows)
    assert len({r.text for r in rows}) == len(rows), "a reply is in the set twice"


def test_both_halves_are_measured() -> None:
    report = run_reply_eval(REPO / DEFAULT_DATA)
    assert set(report.splits) == {Split.DEV, Split.HELD}
    for figures in report.splits.values():
        assert figures.n == sum(sum(row.values()) for row in figures.confusion.values())
        assert figures.false_acceptances == (figures.confusion[ReplyKind.NEEDS_HELP][ReplyKind.ACCEPTS]
                                             + figures.confusion[ReplyKind.OTHER][ReplyKind.ACCEPTS])
        assert len(figures.misread) == figures.n - sum(figures.confusion[k][k] for k in ReplyKind)
        assert 0.5 < figures.accuracy <= 1.0  # sanity bound: far above chance, not a quality gate


def test_score_counts_each_cell() -> None:
    rows = [LabelledReply(text=t, label=label, split=Split.DEV) for t, label in (
        ("a", ReplyKind.ACCEPTS), ("b", ReplyKind.NEEDS_HELP), ("c", ReplyKind.OTHER), ("d", ReplyKind.OTHER))]
    figures = score(rows, lambda text: ReplyKind.ACCEPTS if text in "abc" else ReplyKind.OTHER)
    assert figures.accuracy == 0.5
    assert figures.false_acceptances == 2
    assert figures.confusion[ReplyKind.OTHER] == {ReplyKind.ACCEPTS: 1, ReplyKind.NEEDS_HELP: 0, ReplyKind.OTHER: 1}
    assert figures.per_class[ReplyKind.ACCEPTS].precision == pytest.approx(1 / 3)
    assert figures.per_class[ReplyKind.NEEDS_HELP].recall == 0.0
    assert figures.per_class[ReplyKind.NEEDS_HELP].precision is None


def test_a_malformed_line_is_named(tmp_path: Path) -> None:
    data = tmp_path / "replies.jsonl"
    data.write_text('{"text": "ok", "label": "accepts", "split": "dev"}\n{"text": "x", "label": "maybe", "split": "dev"}\n')
    with pytest.raises(LabelledSetError, match=r"replies.jsonl:2"):
        load_labelled(data)


def test_eval_replies_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "replies.json"
    done = subprocess.run([sys.executable, "-m", "agent_graph.cli", "eval-replies", "--json", str(out), "--misread", "dev"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "false acceptances" in done.stdout and "held" in done.stdout
    report = json.loads(out.read_text())
    assert set(report["splits"]) == {"dev", "held"}
    missing = subprocess.run([sys.executable, "-m", "agent_graph.cli", "eval-replies", "--data", str(tmp_path / "no.jsonl")],
                             cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert missing.returncode == 2 and "no.jsonl" in missing.stderr


@pytest.mark.parametrize("text,reading", [
    ("Could you also add my brother to the booking?", ReplyReading(ReplyKind.NEEDS_HELP, requests_only=True)),
    ("Great, thanks. How do I get a copy of the invoice?", ReplyReading(ReplyKind.NEEDS_HELP, requests_only=True)),
    ("Lovely! Is it possible to move the other one too?", ReplyReading(ReplyKind.NEEDS_HELP, requests_only=True)),
    ("When will it arrive?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("Thanks. Is there parking near the shop?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("Can you add my son? And why was I charged twice?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("It still hasn't arrived. Can you check?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("Can I speak to a manager?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("Thanks, but why was I charged twice?", ReplyReading(ReplyKind.NEEDS_HELP)),
    ("Arrived safely, ta", ReplyReading(ReplyKind.ACCEPTS)),
])
def test_a_reply_that_needs_help_says_whether_requests_put_as_questions_alone_made_it_so(text: str, reading: ReplyReading) -> None:
    """Only a request put as a question may be another request of the catalog (the offline engine reads it
    afresh); a question for information is not one."""
    assert read_reply(text) == reading
