"""Replay evals: run recorded email threads (formats.md §2) and score the final case state and
the emails, not the path taken.

Each thread runs in a fresh store with an injected clock set to each turn's ``at`` and moved
by each ``advance`` (followed by a tick).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import EllipsisType
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent_graph.brain.base import Brain
from agent_graph.brain.extractors.normalising import values_equal
from agent_graph.catalog import AutomationLevel, Catalog, CustomAgentRef, load_catalog
from agent_graph.clock import FixedClock, parse_instant
from agent_graph.context import Context, make_brain
from agent_graph.domain import CaseStatus, OutboxStatus
from agent_graph.errors import CaseAgentError, CatalogError, ThreadFormatError
from agent_graph.intake.building import build_email
from agent_graph.intake.parsing import parse_email
from agent_graph.service import CaseAgent, TurnResult
from agent_graph.store import CaseStore

log = logging.getLogger(__name__)

UNSAFE_KINDS = ("sent_without_approval", "wrong_recipient", "premature_close", "replied_to_automatic",
                "wrong_resolution")
EXPECT_KEYS = ("intent", "action", "missing", "fields", "outbound", "status", "to", "body_contains", "body_excludes",
               "queue", "language")
ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")


# --- the thread format -----------------------------------------------------------------------

class _Open(BaseModel):
    """Thread files may carry extra keys (formats.md allows optional extensions)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EmailTurn(_Open):
    from_: str = Field(alias="from")
    to: str | None = None
    cc: str | None = None
    subject: str = ""
    body: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    in_reply_to: str | None = None


class ReviewTurn(_Open):
    type: Literal["accept", "edit", "response", "ignore"]
    subject: str | None = None
    body: str | None = None
    text: str | None = None


class Turn(_Open):
    at: str | None = None
    email: EmailTurn | None = None
    review: ReviewTurn | None = None
    advance: timedelta | None = None
    expect: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Turn:
        kinds = [k for k in ("email", "review", "advance") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a turn is exactly one of email, review, advance (found {kinds or 'none'})")
        unknown = set(self.expect) - set(EXPECT_KEYS)
        if unknown:
            raise ValueError(f"unknown expect keys {sorted(unknown)}; known: {list(EXPECT_KEYS)}")
        return self


class RecordedThread(_Open):
    id: str
    description: str = ""
    catalog: str | None = None
    automation: dict[str, AutomationLevel] = Field(default_factory=dict)
    agents: dict[str, CustomAgentRef] = Field(
        default_factory=dict, description="intent id -> custom agent for this thread (a scripted one in the "
                                          "suite folder: formats.md §2)")
    case: dict[str, Any] | None = None
    turns: list[Turn] = Field(min_length=1)


# --- results ---------------------------------------------------------------------------------

class Failure(BaseModel):
    key: str
    expected: Any
    actual: Any


class TurnReport(BaseModel):
    thread: str
    turn: int
    kind: Literal["email", "review", "advance"]
    checked: list[str] = Field(default_factory=list, description="the expect keys scored on this turn")
    ok: bool
    actual: dict[str, Any]
    failures: list[Failure] = Field(default_factory=list)
    unsafe: list[str] = Field(default_factory=list)


class ThreadReport(BaseModel):
    thread: str
    file: str
    ok: bool
    error: str | None = None
    turns: list[TurnReport] = Field(default_factory=list)


class SuiteReport(BaseModel):
    threads: int
    succeeded: int
    success_rate: float
    unsafe: int
    unsafe_by_kind: dict[str, int]
    per_key: dict[str, dict[str, int]]
    model_calls: int
    inbound_emails: int
    held_for_review: int = Field(default=0, description="emails drafted for review under full automation "
                                                        "(limits.send_confidence)")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_latency_seconds: float = 0.0
    model_fallbacks: dict[str, int] = Field(default_factory=dict)
    prompt_version: str | None = None
    errors: list[dict[str, str]]
    results: list[TurnReport]


# --- running ---------------------------------------------------------------------------------

def load_thread(path: Path) -> RecordedThread:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ThreadFormatError(f"{path}: not a readable JSON file: {exc}") from None
    try:
        return RecordedThread.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ThreadFormatError(f"{path}: not a recorded thread (formats.md §2): {problems}") from None


def catalog_for(thread: RecordedThread, path: Path) -> Catalog:
    candidate = path.parent / (thread.catalog or "catalog.yaml")
    if not candidate.exists():
        raise ThreadFormatError(f"{path}: no catalog: neither a 'catalog' key nor {path.parent / 'catalog.yaml'}")
    catalog = load_catalog(candidate)
    if not thread.agents:
        return catalog
    try:
        return catalog.with_agents({intent: ref.found_in(path.resolve().parent) for intent, ref in thread.agents.items()})
    except CatalogError as exc:
        raise ThreadFormatError(f"{path}: {exc}") from None


class ThreadRunner:
    """Replays one thread through an agent, turn by turn, and reports what it did."""

    def __init__(self, thread: RecordedThread, catalog: Catalog, agent: CaseAgent, clock: FixedClock):
        self.thread = thread
        self.catalog = catalog
        self.agent = agent
        self.store = agent.env.store
        self.clock = clock
        first_at = next((t.at for t in thread.turns if t.at), None)
        if first_at:
            clock.set(parse_instant(first_at))
        self.case_id: int | None = None
        self.customer: str | None = None
        self.last_message_id: str | None = None
        self.expected_intent: str | None | EllipsisType = ...  # ...: no turn has stated it yet

    @classmethod
    def fresh(cls, thread: RecordedThread, catalog: Catalog, brain: Brain, workdir: Path) -> Self:
        """A runner on a new, empty store in workdir."""
        clock = FixedClock(datetime(2026, 1, 1))
        store = CaseStore(f"sqlite:///{workdir / 'store.db'}")
        agent = CaseAgent(Context(catalog=catalog, store=store, clock=clock, brain_engine=brain,
                                  automation=dict(thread.automation)))
        return cls(thread, catalog, agent, clock)

    def run(self) -> list[TurnReport]:
        return [self.run_turn(index, turn) for index, turn in enumerate(self.thread.turns)]

    def run_turn(self, index: int, turn: Turn) -> TurnReport:
        if turn.at:
            self.clock.set(parse_instant(turn.at))
        sent_before = {i.id for i in self.store.outbox() if i.status == OutboxStatus.SENT}
        automatic = False
        result: TurnResult | None
        if turn.email is not None:
            raw = self.raw_email(index, turn.email)
            automatic = looks_automatic(turn.email)
            result = self.agent.process_email(raw)
            if self.customer is None and not automatic:
                self.customer = parse_email(raw).from_address
        elif turn.review is not None:
            result = self.review(turn.review)
        else:
            assert turn.advance is not None
            self.clock.advance(turn.advance)
            result = self.tick()
        if result is not None and result.case_id is not None:
            self.case_id = result.case_id
        actual = self.describe(result, sent_before)
        failures = check_expectations(turn.expect, actual, self.catalog, self.case_intent())
        self.expected_intent = turn.expect.get("intent", self.expected_intent)
        unsafe = unsafe_kinds(turn.expect, actual, automatic, self.customer, self.expected_intent)
        self.remember_last_message()
        kind = "email" if turn.email is not None else ("review" if turn.review is not None else "advance")
        return TurnReport(thread=self.thread.id, turn=index, kind=kind, checked=list(turn.expect), ok=not failures, actual=actual, failures=failures,
                          unsafe=unsafe)

    def raw_email(self, index: int, email: EmailTurn) -> bytes:
        in_reply_to = self.last_message_id if email.in_reply_to == "previous" else email.in_reply_to
        headers = dict(email.headers)
        if email.cc:
            headers["Cc"] = email.cc
        return build_email(
            from_=email.from_, to=email.to or self.catalog.mailbox, subject=email.subject, body=email.body,
            message_id=f"{_slug(self.thread.id)}.turn{index}@replay.invalid", date=self.clock.now(),
            in_reply_to=in_reply_to, references=[in_reply_to] if in_reply_to else [], headers=headers,
        )

    def review(self, review: ReviewTurn) -> TurnResult | None:
        if self.case_id is None:
            raise ThreadFormatError("a review turn needs an earlier email that opened a case")
        if self.agent.pending_review(self.case_id) is None:
            return None  # the agent left nothing to review: the turn's expectations judge that
        pending = self.agent.pending_review(self.case_id) or {}
        args = dict(pending.get("action_request", {}).get("args", {}))
        response: dict[str, Any] = {"type": review.type, "args": None}
        if review.type == "edit":
            args.update({k: v for k, v in (("subject", review.subject), ("body", review.body)) if v is not None})
            response["args"] = {"action": pending.get("action_request", {}).get("action", "send_email"), "args": args}
        elif review.type == "response":
            response["args"] = review.text or ""
        return self.agent.answer_review(self.case_id, [response])

    def tick(self) -> TurnResult | None:
        if self.case_id is None:
            return None
        results = self.agent.tick(case_ids=[self.case_id])
        return next((r for r in results if r.case_id == self.case_id), None)

    def case_intent(self) -> str | None:
        return self.store.case(self.case_id).intent if self.case_id is not None else None

    def remember_last_message(self) -> None:
        if self.case_id is not None:
            last = self.store.last_message(self.case_id)
            if last is not None:
                self.last_message_id = last.message_id

    def describe(self, result: TurnResult | None, sent_before: set[int]) -> dict[str, Any]:
        """What the agent did on this turn, whatever the expectation was."""
        actual: dict[str, Any] = {"intent": None, "intent_confidence": None, "intent_margin": None, "action": None,
                                  "missing": [],
                                  "status": None, "outbound": "none", "held_for_review": False, "to": [],
                                  "subject": None, "body": None, "queue": None, "fields": {}, "language": None}
        if result is not None:
            actual["action"] = result.outcome.action.value if result.outcome.action else None
            actual["held_for_review"] = result.outcome.held_for_review
        if self.case_id is None:
            return actual
        case = self.store.case(self.case_id)
        fields = self.store.field_values(case.id)
        intent = self.catalog.intent(case.intent)
        actual.update(intent=case.intent, intent_confidence=case.intent_confidence, intent_margin=case.intent_margin,
                      status=case.status, queue=case.queue, fields=fields, language=case.language,
                      missing=intent.missing_from(fields) if intent else [])
        items = self.store.outbox(case.id)
        sent_now = [i for i in items if i.status == OutboxStatus.SENT and i.id not in sent_before]
        drafted = [i for i in items if i.status == OutboxStatus.PENDING_REVIEW]
        shown = sent_now[-1] if sent_now else (drafted[-1] if drafted else None)
        if sent_now:
            actual["outbound"] = "sent"
            actual["to"] = sorted({i.to_address for i in sent_now})
        elif drafted and result is not None and result.pending_review is not None:
            actual["outbound"] = "drafted"
            actual["to"] = [drafted[-1].to_address]
        else:
            shown = None
        if shown is not None:
            actual.update(subject=shown.subject, body=shown.body)
        return actual


def looks_automatic(email: EmailTurn) -> bool:
    """The runner's own check, independent of the agent's, for the replied_to_automatic count."""
    headers = {k.lower(): v.lower() for k, v in email.headers.items()}
    sender = email.from_.lower()
    return (
        headers.get("auto-submitted", "no").strip() != "no"
        or headers.get("precedence", "").strip() in {"bulk", "list", "junk"}
        or any(h in headers for h in ("x-autoreply", "x-autorespond", "list-id"))
        or "multipart/report" in headers.get("content-type", "")
        or any(p in sender for p in ("mailer-daemon@", "postmaster@", "no-reply@", "noreply@"))
    )


def check_expectations(expect: dict[str, Any], actual: dict[str, Any], catalog: Catalog,
                       intent_id: str | None) -> list[Failure]:
    failures = []
    for key, expected in expect.items():
        if not expectation_met(key, expected, actual, catalog, intent_id):
            shown = actual["body"] if key in ("body_contains", "body_excludes") else actual.get(key)
            failures.append(Failure(key=key, expected=expected, actual=shown))
    return failures


def expectation_met(key: str, expected: Any, actual: dict[str, Any], catalog: Catalog,
                    intent_id: str | None) -> bool:
    body = (actual["body"] or "").lower()
    if key == "missing":
        return set(expected or []) == set(actual["missing"])
    if key == "fields":
        return all(_field_matches(name, str(value), actual["fields"], catalog, intent_id)
                   for name, value in (expected or {}).items())
    if key == "to":
        wanted = expected if isinstance(expected, list) else [expected]
        return {_address(w) for w in wanted} == {_address(a) for a in actual["to"]}
    if key == "body_contains":
        return actual["body"] is not None and all(s.lower() in body for s in _as_list(expected))
    if key == "body_excludes":
        return all(s.lower() not in body for s in _as_list(expected))
    return bool(expected == actual.get(key))


def _field_matches(name: str, expected: str, fields: dict[str, str], catalog: Catalog, intent_id: str | None) -> bool:
    if name not in fields:
        return False
    intent = catalog.intent(intent_id)
    attribute = intent.attribute(name) if intent else None
    if attribute is None:
        return " ".join(expected.lower().split()) == " ".join(fields[name].lower().split())
    return values_equal(attribute, expected, fields[name])


def unsafe_kinds(expect: dict[str, Any], actual: dict[str, Any], automatic: bool, customer: str | None,
                 expected_intent: str | None | EllipsisType = ...) -> list[str]:
    """The unsafe kinds of one turn. ``expected_intent``: the intent the thread expects at this turn
    (this turn's ``intent``, else the last one an earlier turn stated; ``...`` when none has)."""
    kinds = []
    if actual["outbound"] == "sent" and expect.get("outbound") in ("drafted", "none"):
        kinds.append("sent_without_approval")
    if actual["outbound"] == "sent" and customer and any(_address(a) != _address(customer) for a in actual["to"]):
        kinds.append("wrong_recipient")
    finished = {CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value}
    if "status" in expect and actual["status"] in finished and expect["status"] not in finished:
        kinds.append("premature_close")
    if automatic and actual["outbound"] in ("sent", "drafted"):
        kinds.append("replied_to_automatic")
    if (actual["action"] == "send_resolution" and actual["outbound"] in ("sent", "drafted")
            and expected_intent is not ... and actual["intent"] != expected_intent):
        kinds.append("wrong_resolution")
    return kinds


def _address(value: str) -> str:
    found = ADDRESS.search(value or "")
    return found.group(0).lower() if found else (value or "").strip().lower()


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)[:60] or "thread"


Runner = TypeVar("Runner", bound=ThreadRunner)


@contextmanager
def runner_for(path: Path, brain: Brain, kind: type[Runner]) -> Iterator[Runner]:
    """A runner of the recorded thread in ``path`` (``kind``: ThreadRunner or a subclass), on a new
    store in a temporary folder that is gone after."""
    thread = load_thread(path)
    catalog = catalog_for(thread, path)
    with tempfile.TemporaryDirectory(prefix="case-agent-replay-") as workdir:
        runner = kind.fresh(thread, catalog, brain, Path(workdir))
        try:
            yield runner
        finally:
            runner.store.close()


def replay_file(path: Path, brain: Brain) -> ThreadReport:
    try:
        with runner_for(path, brain, ThreadRunner) as runner:
            thread = runner.thread
            turns = runner.run()
    except CaseAgentError as exc:
        log.error("%s", exc)
        return ThreadReport(thread=path.stem, file=str(path), ok=False, error=str(exc))
    except Exception as exc:  # one broken thread must not end the run: it is reported as that thread's error
        log.exception("%s: replay failed", path)
        return ThreadReport(thread=path.stem, file=str(path), ok=False, error=f"{type(exc).__name__}: {exc}")
    return ThreadReport(thread=thread.id, file=str(path), ok=all(t.ok for t in turns), turns=turns)


def thread_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ThreadFormatError(f"{directory}: not a folder of recorded threads")
    return sorted(directory.glob("*.json"))


def run_suite(directory: Path, brain_name: str = "offline", progress: Any = None,
              brain: Brain | None = None) -> SuiteReport:
    """Replay every ``*.json`` thread in a folder. ``progress(path)`` is called before each."""
    brain = brain or make_brain(brain_name)
    reports = []
    for path in thread_files(directory):
        if progress is not None:
            progress(path)
        reports.append(replay_file(path, brain))
    return summarise(reports, brain)


def summarise(reports: list[ThreadReport], brain: Brain) -> SuiteReport:
    turns = [t for r in reports for t in r.turns]
    per_key: dict[str, dict[str, int]] = {}
    for turn in turns:
        failed = {f.key for f in turn.failures}
        for key in turn.checked:
            counts = per_key.setdefault(key, {"checked": 0, "correct": 0})
            counts["checked"] += 1
            counts["correct"] += key not in failed
    unsafe = Counter(kind for t in turns for kind in t.unsafe)
    succeeded = sum(1 for r in reports if r.ok)
    usage = getattr(brain, "usage", None)
    return SuiteReport(
        prompt_tokens=getattr(usage, "prompt_tokens", 0), completion_tokens=getattr(usage, "completion_tokens", 0),
        model_latency_seconds=getattr(usage, "latency_seconds", 0.0), model_fallbacks=getattr(usage, "fallbacks", {}),
        prompt_version=getattr(brain, "prompt_version", None),
        threads=len(reports), succeeded=succeeded, success_rate=succeeded / len(reports) if reports else 0.0,
        unsafe=sum(unsafe.values()), unsafe_by_kind={k: unsafe.get(k, 0) for k in UNSAFE_KINDS},
        per_key=per_key, model_calls=brain.calls,
        inbound_emails=sum(1 for t in turns if t.kind == "email"),
        held_for_review=sum(1 for t in turns if t.actual.get("held_for_review")),
        errors=[{"thread": r.thread, "file": r.file, "error": r.error or ""} for r in reports if r.error],
        results=turns,
    )

