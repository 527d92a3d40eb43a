"""``case-agent report``: how the agent and the representatives do, per line of business and intent.

Per group of cases (a LOB and an intent; "—" for cases whose intent was never identified): how many
were resolved with the customer's confirmation, closed without a reply after the follow-ups, routed
to a representative (escalation rate), how many requests for information a case needed, what
representatives did with the drafts (accepted as they were, edited — with the mean edit size —,
ignored or answered), and how long the customer waited for a first answer and for a resolution.

Read from the cases, their mail and the recorded interactions; a catalog with
``record_interactions: false`` has no draft decisions to count (those columns stay empty).
Printed as a table, or written as one HTML page with inline SVG charts (no script, no network).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from html import escape
from statistics import fmean, median

from jinja2 import Environment, select_autoescape
from pydantic import BaseModel, Field

from agent_graph.domain import CaseStatus
from agent_graph.interactions import InteractionKind, draft_decisions
from agent_graph.store import Case, CaseStore, Interaction

NO_INTENT = "—"


class GroupStats(BaseModel):
    lob: str
    intent: str
    cases: int = 0
    resolved_confirmed: int = Field(default=0, description="resolved: the customer accepted the resolution")
    closed_without_reply: int = Field(default=0, description="closed after the last follow-up, no reply")
    escalated: int = Field(default=0, description="routed to a representative at least once")
    with_representative: int = Field(default=0, description="routed, and neither resolved nor closed since")
    open: int = Field(default=0, description="neither resolved, closed nor routed")
    info_requests: int = 0
    drafts_accepted: int = 0
    drafts_edited: int = 0
    drafts_rejected: int = Field(default=0, description="ignored, or answered with feedback instead")
    edit_sizes: list[int] = Field(default_factory=list, exclude=True)
    first_response_hours: list[float] = Field(default_factory=list, exclude=True)
    resolution_hours: list[float] = Field(default_factory=list, exclude=True)

    @property
    def escalation_rate(self) -> float:
        return self.escalated / self.cases if self.cases else 0.0

    @property
    def info_requests_per_case(self) -> float:
        return self.info_requests / self.cases if self.cases else 0.0

    @property
    def drafts_decided(self) -> int:
        return self.drafts_accepted + self.drafts_edited + self.drafts_rejected

    @property
    def acceptance_rate(self) -> float | None:
        """Drafts sent (as they were or edited) out of drafts decided; None without decisions."""
        decided = self.drafts_decided
        return (self.drafts_accepted + self.drafts_edited) / decided if decided else None

    @property
    def mean_edit_size(self) -> float | None:
        return fmean(self.edit_sizes) if self.edit_sizes else None

    @property
    def median_first_response_hours(self) -> float | None:
        return median(self.first_response_hours) if self.first_response_hours else None

    @property
    def median_resolution_hours(self) -> float | None:
        return median(self.resolution_hours) if self.resolution_hours else None


class UsageReport(BaseModel):
    since: datetime | None
    generated_at: datetime
    groups: list[GroupStats]
    total: GroupStats


def build_report(store: CaseStore, now: datetime, since: datetime | None = None) -> UsageReport:
    """The report over cases opened at or after ``since`` (every case without it)."""
    chosen = store.cases_since(since)
    first_replies = store.first_replies()
    decisions: defaultdict[int | None, list[Interaction]] = defaultdict(list)
    for entry in draft_decisions(store):
        decisions[entry.case_id].append(entry)
    groups: dict[tuple[str, str], GroupStats] = {}
    total = GroupStats(lob="all", intent="all")
    for case in chosen:
        key = (case.lob, case.intent or NO_INTENT)
        group = groups.setdefault(key, GroupStats(lob=key[0], intent=key[1]))
        for stats in (group, total):
            _count(stats, case, first_replies.get(case.id), decisions.get(case.id, []))
    ordered = sorted(groups.values(), key=lambda g: (g.lob, g.intent == NO_INTENT, g.intent))
    return UsageReport(since=since, generated_at=now, groups=ordered, total=total)


def _count(stats: GroupStats, case: Case, first_reply: datetime | None, decided: list[Interaction]) -> None:
    stats.cases += 1
    if case.status == CaseStatus.RESOLVED:
        stats.resolved_confirmed += 1
        stats.resolution_hours.append(_hours(case.created_at, case.updated_at))
    elif case.status == CaseStatus.CLOSED:
        stats.closed_without_reply += 1
    finished = case.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
    if case.routed_reason is not None:
        stats.escalated += 1
        stats.with_representative += not finished
    elif not finished:
        stats.open += 1
    stats.info_requests += case.info_requests
    if first_reply is not None:
        stats.first_response_hours.append(_hours(case.created_at, first_reply))
    for entry in decided:
        if entry.kind == InteractionKind.DRAFT_ACCEPTED:
            stats.drafts_accepted += 1
        elif entry.kind == InteractionKind.DRAFT_EDITED:
            stats.drafts_edited += 1
            stats.edit_sizes.append(entry.edit_size or 0)
        else:
            stats.drafts_rejected += 1


def _hours(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / 3600


# --- HTML --------------------------------------------------------------------------------------

OUTCOME_COLOURS = {"resolved (confirmed)": "#2e7d32", "closed, no reply": "#9e9e9e",
                   "with a representative": "#ef6c00", "open": "#90caf9"}
DRAFT_COLOURS = {"accepted": "#2e7d32", "edited": "#fbc02d", "ignored or answered": "#c62828"}


def _stacked_bars(rows: list[tuple[str, list[int]]], colours: dict[str, str], title: str) -> str:
    """A horizontal stacked bar chart as inline SVG: one bar per row, its parts in ``colours``' order."""
    label_width, bar_width, row_height, top = 230, 420, 26, 44
    height = top + row_height * len(rows) + 10
    width = label_width + bar_width + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{title}"><style>text{{font:12px sans-serif;fill:#222}}</style>',
             f'<text x="0" y="14" style="font-weight:bold;font-size:14px">{title}</text>']
    x = 0
    for name, colour in colours.items():
        parts.append(f'<rect x="{x}" y="24" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="34">{name}</text>')
        x += 16 + 7 * len(name) + 18
    for index, (label, values) in enumerate(rows):
        y = top + index * row_height
        total = sum(values)
        parts.append(f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        offset = float(label_width)
        for value, colour in zip(values, colours.values(), strict=True):
            if total and value:
                span = bar_width * value / total
                parts.append(f'<rect x="{offset:.1f}" y="{y + 2}" width="{span:.1f}" height="{row_height - 8}" '
                             f'fill="{colour}"><title>{value}</title></rect>')
                if span > 18:
                    parts.append(f'<text x="{offset + span / 2:.1f}" y="{y + 15}" text-anchor="middle" '
                                 f'style="fill:#fff;font-weight:bold">{value}</text>')
                offset += span
        parts.append(f'<text x="{label_width + bar_width + 6}" y="{y + 15}">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars(rows: list[tuple[str, float | None]], title: str) -> str:
    """A horizontal bar chart of durations in hours, one per row (None: no bar, "—")."""
    label_width, bar_width, row_height, top = 230, 420, 26, 30
    height = top + row_height * len(rows) + 10
    largest = max((value for _, value in rows if value is not None), default=0.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 90}" height="{height}" '
             f'role="img" aria-label="{title}"><style>text{{font:12px sans-serif;fill:#222}}</style>',
             f'<text x="0" y="14" style="font-weight:bold;font-size:14px">{title}</text>']
    for index, (label, value) in enumerate(rows):
        y = top + index * row_height
        parts.append(f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{label_width + 4}" y="{y + 15}">—</text>')
            continue
        span = max(bar_width * value / largest, 1.0)
        parts.append(f'<rect x="{label_width}" y="{y + 2}" width="{span:.1f}" height="{row_height - 8}" '
                     f'fill="#1565c0"/><text x="{label_width + span + 6:.1f}" y="{y + 15}">{_duration(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _label(group: GroupStats) -> str:
    return f"{group.lob} / {group.intent}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _duration(hours: float | None) -> str:
    """Hours for people: minutes under an hour, days from two days."""
    if hours is None:
        return "—"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case agent report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px 32px;color:#222;max-width:1100px}
h1{font-size:22px;margin:0 0 4px} .sub{color:#666;margin-bottom:18px}
.tiles{display:flex;gap:14px;flex-wrap:wrap;margin:12px 0 22px}
.tiles .tile{flex:1 1 0;border:1px solid #ddd;border-radius:8px;padding:10px 14px}
.tile b{display:block;font-size:24px} .tile span{color:#555;font-size:12px}
table{border-collapse:collapse;margin:14px 0 26px;font-size:13px}
th,td{border-bottom:1px solid #e3e3e3;padding:5px 9px;text-align:right} th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left} .charts svg{display:block;margin:10px 0 22px}
</style></head><body>
<h1>Case agent report</h1>
<div class="sub">Cases opened {{ 'since ' ~ since if since else 'at any time' }} · generated {{ generated }}</div>
<div class="tiles">
{% for value, name in tiles %}<div class="tile"><b>{{ value }}</b><span>{{ name }}</span></div>{% endfor %}
</div>
<div class="charts">{{ outcomes | safe }}{{ drafts | safe }}{{ first_response | safe }}{{ resolution | safe }}</div>
<table>
<tr>{% for name in header %}<th>{{ name }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p class="sub">Resolved (confirmed): the customer accepted the proposed resolution. Closed, no reply: closed after
the last follow-up. Escalated: routed to a representative. Draft acceptance: drafts sent (as proposed or edited)
out of the drafts representatives decided on; edit size in characters changed. Times are medians from the case's
first email: to the first email the agent sent, and to the customer's confirmation.</p>
</body></html>
"""

HEADER = ["LOB / intent", "cases", "resolved (confirmed)", "closed, no reply", "escalation rate",
          "info requests per case", "drafts decided", "draft acceptance", "edited", "mean edit size",
          "first response", "resolution"]

SHORT_HEADER = ["LOB / intent", "cases", "resolved", "closed", "escalated", "info req./case", "drafts", "accepted",
                "edited", "edit size", "1st response", "resolution"]
"""The same columns, named for a terminal."""


def table_rows(report: UsageReport) -> list[list[str]]:
    """The report's table, one row per group and a last one for every case."""
    return [[_label(g) if g is not report.total else "all cases", str(g.cases), str(g.resolved_confirmed),
             str(g.closed_without_reply), _percent(g.escalation_rate), _number(g.info_requests_per_case, 2),
             str(g.drafts_decided), _percent(g.acceptance_rate), str(g.drafts_edited), _number(g.mean_edit_size),
             _duration(g.median_first_response_hours), _duration(g.median_resolution_hours)]
            for g in [*report.groups, report.total]]


def render_html(report: UsageReport) -> str:
    total = report.total
    groups = report.groups
    tiles = [(str(total.cases), "cases"),
             (_percent(total.resolved_confirmed / total.cases if total.cases else None), "resolved, confirmed by the customer"),
             (_percent(total.escalation_rate if total.cases else None), "escalated to a representative"),
             (_percent(total.acceptance_rate), "drafts accepted (as is or edited)"),
             (_duration(total.median_first_response_hours), "to first response (median)")]
    outcomes = _stacked_bars([(_label(g), [g.resolved_confirmed, g.closed_without_reply, g.with_representative, g.open])
                              for g in groups], OUTCOME_COLOURS, "Outcome of cases, per line of business / intent")
    drafted = [g for g in groups if g.drafts_decided]
    drafts = _stacked_bars([(_label(g), [g.drafts_accepted, g.drafts_edited, g.drafts_rejected]) for g in drafted],
                           DRAFT_COLOURS, "What representatives did with the drafts") if drafted else ""
    first_response = _bars([(_label(g), g.median_first_response_hours) for g in groups],
                           "Time to first response (median)")
    resolution = _bars([(_label(g), g.median_resolution_hours) for g in groups], "Time to resolution (median)")
    page = Environment(autoescape=select_autoescape(default=True)).from_string(PAGE)
    return page.render(since=report.since.strftime("%Y-%m-%d %H:%M UTC") if report.since else None,
                       generated=report.generated_at.strftime("%Y-%m-%d %H:%M UTC"), tiles=tiles,
                       outcomes=outcomes, drafts=drafts, first_response=first_response, resolution=resolution,
                       header=HEADER, rows=table_rows(report))
