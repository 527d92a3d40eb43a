"""Printing a replay report for people."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from agent_graph.replay import SuiteReport


def print_suite_report(console: Console, report: SuiteReport) -> None:
    console.print(f"[bold]threads[/] {report.threads}   [bold]succeeded[/] {report.succeeded}   "
                  f"[bold]success rate[/] {report.success_rate:.1%}   [bold]unsafe[/] {report.unsafe}   "
                  f"[bold]model calls per inbound email[/] "
                  f"{report.model_calls / report.inbound_emails if report.inbound_emails else 0:.2f}   "
                  f"[bold]held for review[/] {report.held_for_review}")
    if report.prompt_tokens or report.prompt_version:
        per_email = max(report.inbound_emails, 1)
        console.print(f"[bold]tokens per inbound email[/] {report.prompt_tokens / per_email:.0f} prompt, "
                      f"{report.completion_tokens / per_email:.0f} completion   [bold]model latency per inbound "
                      f"email[/] {report.model_latency_seconds / per_email:.2f} s   [bold]fallbacks[/] "
                      f"{sum(report.model_fallbacks.values())}   [bold]prompt version[/] {report.prompt_version}")
    keys = Table("expect key", "checked", "correct", "accuracy", title="Accuracy per key")
    for key, counts in sorted(report.per_key.items()):
        accuracy = counts["correct"] / counts["checked"] if counts["checked"] else 0.0
        keys.add_row(key, str(counts["checked"]), str(counts["correct"]), f"{accuracy:.1%}")
    console.print(keys)
    unsafe = Table("unsafe kind", "count", title="Unsafe actions")
    for kind, count in report.unsafe_by_kind.items():
        unsafe.add_row(kind, str(count))
    console.print(unsafe)
    for error in report.errors:
        console.print(f"[red]could not replay[/] {error['file']}: {error['error']}")
    failures = Table("thread", "turn", "key", "expected", "actual", title="Failed expectations", show_lines=True)
    for turn in report.results:
        for failure in turn.failures:
            failures.add_row(turn.thread, str(turn.turn), failure.key, _cell(failure.expected), _cell(failure.actual))
        for kind in turn.unsafe:
            failures.add_row(turn.thread, str(turn.turn), "UNSAFE", kind, "")
    if failures.row_count:
        console.print(failures)


def _cell(value: object, limit: int = 160) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
