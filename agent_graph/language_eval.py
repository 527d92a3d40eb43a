"""``case-agent eval-languages``: language detection measured on labelled multilingual lines.

The data file is JSON Lines, one customer text per line: ``{"text": ..., "lang": "es" | null,
"too_short": bool, "kind": ..., "split": "dev" | "held"}``. ``lang`` is the language the text is
written in (null for text in no language: a reference, a name, a number); ``too_short`` marks a
text where "unknown" is an acceptable answer (the case keeps its language), and a text with no
language must come out unknown. The detector's rule was chosen on ``dev``; ``held`` reports it.

Per split and language: longer lines read right; short lines read right, unknown, or wrong; and the
wrong-language answers over all lines — a wrong language is the costly error (the customer would be
answered in a language that is not theirs). Time per line is measured over the whole set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from agent_graph.brain.language import detect_language
from agent_graph.labelled_set import Split, load_rows

DEFAULT_DATA = Path("evals/languages/lines.jsonl")
MAIN_LANGUAGES = ("en", "es", "de", "fr", "pt", "it", "nl")
"""Reported one by one; other languages are reported together as ``other``, no language as ``none``."""


class LineKind(StrEnum):
    SHORT = "short"
    SENTENCE = "sentence"
    EMAIL = "email"
    NON_NATIVE = "non_native"
    MIXED = "mixed"
    NEUTRAL = "neutral"


class LabelledLine(BaseModel):
    """One line of the labelled set."""

    text: str
    lang: str | None = Field(pattern=r"^[a-z]{2}$")
    too_short: bool
    kind: LineKind
    split: Split


class LanguageFigures(BaseModel):
    longer: int = Field(description="lines long enough that the language must be read")
    longer_right: int
    short: int = Field(description="too-short lines and lines in no language")
    short_right: int
    short_unknown: int
    wrong: int = Field(description="answers naming a language other than the line's (any length)")


class Miss(BaseModel):
    text: str
    lang: str | None
    detected: str | None


class SplitFigures(BaseModel):
    per_language: dict[str, LanguageFigures]
    total: LanguageFigures
    misses: list[Miss] = Field(description="wrong answers, and longer lines left unknown")


class Timing(BaseModel):
    load_seconds: float = Field(description="loading the model (0 when this process had loaded it already)")
    microseconds_per_line: float
    microseconds_per_email: float = Field(description="over the lines of kind email")


class LanguageEvalReport(BaseModel):
    data: str
    splits: dict[Split, SplitFigures]
    timing: Timing


def load_lines(path: Path) -> list[LabelledLine]:
    """The rows of a labelled set of lines; a malformed line is an error naming it."""
    return load_rows(path, LabelledLine, '{"text", "lang": ISO 639-1 code or null, "too_short": bool, "kind", '
                                         '"split": dev|held}', "labelled lines")


def _group(lang: str | None) -> str:
    return "none" if lang is None else lang if lang in MAIN_LANGUAGES else "other"


def score(rows: Sequence[LabelledLine], detected: Sequence[str | None]) -> SplitFigures:
    """Figures of the ``detected`` answers against ``rows`` (same order)."""
    counts: dict[str, dict[str, int]] = {}
    misses = []
    for row, answer in zip(rows, detected, strict=True):
        c = counts.setdefault(_group(row.lang), dict.fromkeys(LanguageFigures.model_fields, 0))
        right, wrong = answer is not None and answer == row.lang, answer is not None and answer != row.lang
        c["wrong"] += wrong
        if row.too_short or row.lang is None:
            c["short"] += 1
            c["short_right"] += right
            c["short_unknown"] += answer is None
        else:
            c["longer"] += 1
            c["longer_right"] += right
        if wrong or (answer is None and not row.too_short and row.lang is not None):
            misses.append(Miss(text=row.text, lang=row.lang, detected=answer))
    order = [*MAIN_LANGUAGES, "other", "none"]
    per_language = {g: LanguageFigures(**counts[g]) for g in order if g in counts}
    total = LanguageFigures(**{k: sum(c[k] for c in counts.values()) for k in LanguageFigures.model_fields})
    return SplitFigures(per_language=per_language, total=total, misses=misses)


def run_language_eval(data: Path = DEFAULT_DATA,
                      detect: Callable[[str], str | None] = detect_language) -> LanguageEvalReport:
    """Detect the language of every line at ``data`` once, timed; score each split."""
    rows = load_lines(data)
    started = time.perf_counter()
    detect("warm the model up")
    load_seconds = time.perf_counter() - started
    detected, seconds = [], []
    for row in rows:
        started = time.perf_counter()
        detected.append(detect(row.text))
        seconds.append(time.perf_counter() - started)
    emails = [s for row, s in zip(rows, seconds, strict=True) if row.kind is LineKind.EMAIL]
    splits = {}
    for split in Split:
        chosen = [i for i, row in enumerate(rows) if row.split is split]
        if chosen:
            splits[split] = score([rows[i] for i in chosen], [detected[i] for i in chosen])
    return LanguageEvalReport(
        data=str(data), splits=splits,
        timing=Timing(load_seconds=load_seconds, microseconds_per_line=1e6 * sum(seconds) / len(seconds),
                      microseconds_per_email=1e6 * sum(emails) / len(emails) if emails else 0.0),
    )


def _ratio(part: int, whole: int) -> str:
    return "—" if not whole else f"{part}/{whole} ({100 * part / whole:.0f} %)"


def print_language_report(console: Console, report: LanguageEvalReport, *, show_misses: bool = False) -> None:
    """One table per split (a row per language and a total), then the timing."""
    for split, figures in report.splits.items():
        table = Table(title=f"language detection on {report.data}, {split.value} half")
        for column in ("language", "longer lines read right", "short: right", "short: unknown", "wrong language"):
            table.add_column(column)
        for name, f in [*figures.per_language.items(), ("total", figures.total)]:
            table.add_row(name, _ratio(f.longer_right, f.longer), _ratio(f.short_right, f.short),
                          _ratio(f.short_unknown, f.short), str(f.wrong))
        console.print(table)
        if show_misses:
            for miss in figures.misses:
                console.print(f"  {miss.lang} → {miss.detected}: {miss.text!r}", highlight=False)
    t = report.timing
    console.print(f"time: {t.microseconds_per_line:.0f} µs per line, {t.microseconds_per_email:.0f} µs per email; "
                  f"model load {t.load_seconds:.2f} s", highlight=False)
