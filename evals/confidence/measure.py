"""How confident were right and wrong intent identifications? The figures behind
``limits.send_confidence`` and ``limits.send_margin`` (docs/behaviour.md, "Sending on a confident
intent").

Replays every suite (with its own catalog) and the validation emails of ``emails.json``, each as a
one-email thread, and takes every turn where the case's intent was identified (or replaced):
the stored confidence, and whether the intent is the one the thread expects. Prints both
distributions and, for each candidate threshold, how many wrong and right identifications it
holds for review; and for identifications of an intent with a rival (an intent the same values
would resolve too), the margin over it, and how many each candidate ``send_margin`` holds. Run from
the repository root:

    PYTHONPATH=. .venv/bin/python evals/confidence/measure.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent_graph.catalog import DEFAULT_SEND_CONFIDENCE, DEFAULT_SEND_MARGIN
from agent_graph.replay import TurnReport, load_thread, run_suite, thread_files

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SUITES = [REPO / "evals/threads", *sorted(p for p in (REPO / "tests/suites").iterdir() if p.is_dir())]
CANDIDATES = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
MARGIN_CANDIDATES = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
Row = tuple[float, bool, str, float | None]  # confidence, right, where, margin over a rival (None: no rival)


def identifications(directory: Path) -> list[Row]:
    """(confidence, right, where, margin) for every turn on which a case's intent was set."""
    expected = {load_thread(p).id: load_thread(p) for p in thread_files(directory)}
    found = []
    report = run_suite(directory)
    by_thread: dict[str, list[TurnReport]] = {}
    for turn in report.results:
        by_thread.setdefault(turn.thread, []).append(turn)
    for thread_id, turns in by_thread.items():
        wanted = [t.expect.get("intent", ...) for t in expected[thread_id].turns]
        before = None
        for turn in turns:
            intent = turn.actual["intent"]
            if intent is not None and intent != before:
                target = next((w for w in wanted[turn.turn:] if w is not ...), ...)
                if target is not ...:
                    found.append((turn.actual["intent_confidence"] or 0.0, intent == target,
                                  f"{directory.name}/{thread_id}#{turn.turn}", turn.actual["intent_margin"]))
            before = intent
    return found


def validation_emails() -> list[Row]:
    data = json.loads((HERE / "emails.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir) / "emails.json"
        folder.mkdir()
        for n, email in enumerate(data["emails"]):
            thread: dict[str, Any] = {
                "id": f"email-{n}", "catalog": str((HERE / email["catalog"]).resolve()),
                "turns": [{"at": "2026-05-04T09:00:00Z",
                           "email": {"from": "Sam Carter <sam.carter@example.net>", "subject": email["subject"],
                                     "body": email["body"]},
                           "expect": {"intent": email["intent"]}}],
            }
            (folder / f"validation-{n:02d}.json").write_text(json.dumps(thread), encoding="utf-8")
        return identifications(folder)


def main() -> int:
    rows = [row for suite in SUITES for row in identifications(suite)] + validation_emails()
    right = sorted(c for c, ok, _, _ in rows if ok)
    wrong = sorted((c, where) for c, ok, where, _ in rows if not ok)
    print(f"identifications: {len(rows)} ({len(right)} right, {len(wrong)} wrong)")
    print("wrong:", ", ".join(f"{c:.3f} {where}" for c, where in wrong) or "none")
    print(f"right: min {right[0]:.3f}, quartiles " + ", ".join(f"{right[len(right) * q // 4]:.3f}" for q in (1, 2, 3)))
    print("right below 0.9:", ", ".join(f"{c:.3f} {where}" for c, ok, where, _ in sorted(rows, key=lambda r: r[0])
                                         if ok and c < 0.9))
    print("threshold  wrong held  right held")
    for threshold in CANDIDATES:
        marker = "  <- DEFAULT_SEND_CONFIDENCE" if threshold == DEFAULT_SEND_CONFIDENCE else ""
        print(f"{threshold:9.2f}  {sum(c < threshold for c, _ in wrong):5d}/{len(wrong):<4d} "
              f"{sum(c < threshold for c in right):5d}/{len(right)}{marker}")
    with_rival = sorted((m, ok, where, c) for c, ok, where, m in rows if m is not None)
    print(f"\nwith a rival: {len(with_rival)} ({sum(ok for _, ok, _, _ in with_rival)} right); margins below 0.9:")
    for m, ok, where, c in with_rival:
        if m < 0.9:
            print(f"  {m:.3f} {'right' if ok else 'WRONG'} (confidence {c:.3f}) {where}")
    print("send_margin  wrong held (confidence passed)  right held (confidence passed)")
    for threshold in MARGIN_CANDIDATES:
        marker = "  <- DEFAULT_SEND_MARGIN" if threshold == DEFAULT_SEND_MARGIN else ""
        passed = [(m, ok) for m, ok, _, c in with_rival if c >= DEFAULT_SEND_CONFIDENCE]
        wrong_m = [m for m, ok in passed if not ok]
        right_m = [m for m, ok in passed if ok]
        print(f"{threshold:11.2f}  {sum(m < threshold for m in wrong_m):5d}/{len(wrong_m):<4d} "
              f"{sum(m < threshold for m in right_m):24d}/{len(right_m)}{marker}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
