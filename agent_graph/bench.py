"""``case-agent bench``: throughput, framework overhead, scale and concurrency, measured.

Emails are generated from a catalog (the demo's by default): complete requests, requests
missing information followed by the customer's reply, and acceptances of a proposed resolution.
Everything runs on the production path — SQLite store, SQLite checkpointer — unless a figure says
otherwise. With ``--db`` naming a PostgreSQL database of its own (the bench empties it between
figures), the scale figure is measured on it, and throughput with 1, 2 and 4 worker processes
sharing it is added. Figures are printed and written as JSON; nothing here asserts a target.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from re import _constants as sre_constants  # type: ignore[attr-defined]  # the regex parser: generated
from re import _parser as sre_parse  # type: ignore[attr-defined]  # values must match their patterns
from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field
from sqlalchemy import insert, inspect, text

from agent_graph import graph as wiring
from agent_graph.brain.base import ComposeRequest, UnderstandRequest, Understanding
from agent_graph.brain.offline import OfflineBrain
from agent_graph.catalog import Attribute, AttributeType, Catalog, Intent, load_catalog
from agent_graph.clock import FixedClock
from agent_graph.context import Context
from agent_graph.cpu_slots import waiting
from agent_graph.domain import CaseStatus, Direction
from agent_graph.intake.building import build_email
from agent_graph.intake.parsing import parse_email
from agent_graph.mailroom import receive
from agent_graph.memory import peak_rss_mb
from agent_graph.nodes.case_actions import close, resolve, route, update_only
from agent_graph.nodes.custom_agent import consult
from agent_graph.nodes.email import compose, send
from agent_graph.nodes.guard import guard
from agent_graph.nodes.intake import ingest, set_aside
from agent_graph.nodes.understanding import understand
from agent_graph.replay import run_suite
from agent_graph.service import CaseAgent, open_checkpointer
from agent_graph.state import AgentState, run_input
from agent_graph.store import CaseStore, schema
from agent_graph.store.repository import database_url

log = logging.getLogger(__name__)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OVERHEAD_CHUNK = 100
"""Graph and straight-line runs alternate in chunks of this many conversations, so that a change
in the machine's load during the bench weighs on both sides of the overhead ratio alike."""


class BenchReport(BaseModel):
    emails: int
    emails_per_s: float
    p50_ms: float
    p95_ms: float
    peak_memory_mb: float = Field(description="peak resident set size of the process (ru_maxrss)")
    graph_ms_per_email: float
    plain_ms_per_email: float
    overhead_ratio: float
    scale_small_cases: int
    scale_large_cases: int
    scale_small_ms: float
    scale_large_ms: float
    scale_ratio: float
    concurrency_emails: int
    concurrency_workers: int
    brain_delay_ms: float
    serial_s: float
    concurrent_s: float
    concurrency_speedup: float
    model_calls_per_email: float
    scale_database: str = "sqlite"
    workers_emails_per_s: dict[int, float] | None = Field(
        None, description="worker processes -> emails per second, each running 32 cases at once (--db)")
    workers_speedup_2: float | None = None
    workers_speedup_4: float | None = None
    python: str = sys.version.split()[0]


# --- generated mail ----------------------------------------------------------------------------

class Conversation(BaseModel):
    """A customer's first email and, optionally, their reply to the agent's answer."""

    customer: str
    subject: str
    first: str
    reply: str | None = None


def sample_pattern(pattern: str, rng: random.Random) -> str:
    """A string matching a simple regular expression (literals, classes, repeats, groups)."""
    return "".join(_sample(sre_parse.parse(pattern), rng))


def _sample(parsed: Any, rng: random.Random) -> Iterator[str]:
    for op, arg in parsed:
        if op is sre_constants.LITERAL:
            yield chr(arg)
        elif op is sre_constants.IN:
            yield _sample_class(arg, rng)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, item = arg
            for _ in range(rng.randint(low, min(high, low + 3))):
                yield from _sample(item, rng)
        elif op is sre_constants.SUBPATTERN:
            yield from _sample(arg[-1], rng)
        elif op is sre_constants.BRANCH:
            yield from _sample(rng.choice(arg[1]), rng)
        elif op is sre_constants.ANY:
            yield rng.choice("ABCDEFGH")


def _sample_class(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    op, arg = items[0]
    if op is sre_constants.CATEGORY:
        return str(rng.randint(0, 9)) if arg is sre_constants.CATEGORY_DIGIT else rng.choice("abcdefgh")
    if op is sre_constants.RANGE:
        return chr(rng.randint(*arg))
    return chr(arg)


def attribute_value(attribute: Attribute, rng: random.Random) -> str:
    kind = attribute.type
    if kind is AttributeType.STRING:
        return sample_pattern(attribute.pattern, rng) if attribute.pattern else f"REF{rng.randint(1000, 9999)}"
    if kind is AttributeType.TEXT:
        if "address" in attribute.name:
            return f"{rng.randint(2, 98)} Elm Street, Springfield"
        return "it stopped working after two days and makes a grinding noise"
    return {
        AttributeType.EMAIL: f"billing{rng.randint(1, 999)}@example.net",
        AttributeType.PHONE: f"+1 503 201 {rng.randint(1000, 9999)}",
        AttributeType.DATE: f"{rng.randint(1, 27)} February 2026",
        AttributeType.NUMBER: str(rng.randint(1, 9)),
        AttributeType.MONEY: f"${rng.randint(10, 400)}.{rng.randint(10, 99)}",
        AttributeType.ENUM: (attribute.values or ["x"])[0].replace("_", " "),
        AttributeType.BOOLEAN: "yes",
    }[kind]


def _labelled(attributes: list[Attribute], rng: random.Random) -> str:
    return "\n".join(f"{a.label.capitalize()}: {attribute_value(a, rng)}" for a in attributes)


def generate_conversations(catalog: Catalog, n_emails: int, seed: int = 7) -> list[Conversation]:
    """About n_emails inbound emails: a third complete requests, a third missing information then
    supplied, a third complete requests then accepted."""
    rng = random.Random(seed)
    intents = [i for i in catalog.intents() if i.examples]
    conversations: list[Conversation] = []
    emails = 0
    while emails < n_emails:
        intent: Intent = rng.choice(intents)
        n = len(conversations)
        required = intent.required_attributes
        example = rng.choice(intent.examples)
        kind = n % 3
        complete = f"Hello,\n\n{example}\n\n{_labelled(required, rng)}\n\nThanks,\nAlex"
        if kind == 0 or not required:
            conversation = Conversation(customer=f"customer{n}@example.net", subject=intent.name, first=complete)
        elif kind == 1:
            conversation = Conversation(customer=f"customer{n}@example.net", subject=intent.name,
                                        first=f"Hello,\n\n{example}\n\nThanks,\nAlex",
                                        reply=f"Hi, here you go:\n\n{_labelled(required, rng)}\n\nAlex")
        else:
            conversation = Conversation(customer=f"customer{n}@example.net", subject=intent.name, first=complete,
                                        reply="Perfect, thank you so much!")
        conversations.append(conversation)
        emails += 1 + (conversation.reply is not None)
    return conversations


# --- running -----------------------------------------------------------------------------------

class DelayedBrain(OfflineBrain):
    """The offline engine, waiting like a language model would on every call."""

    def __init__(self, delay_s: float):
        super().__init__()
        self.delay_s = delay_s

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        self._wait()
        return super().understand(catalog, request)

    def compose(self, request: ComposeRequest) -> str:
        self._wait()
        return super().compose(request)

    def _wait(self) -> None:
        with waiting():  # as the language-model brain marks its requests
            time.sleep(self.delay_s)


Processor = Callable[[bytes], Any]


def _raw(conversation: Conversation, number: int, body: str, in_reply_to: str | None, to: str) -> bytes:
    return build_email(from_=f"Alex Sample <{conversation.customer}>", to=to, subject=conversation.subject
                       if in_reply_to is None else f"Re: {conversation.subject}", body=body,
                       message_id=f"bench-{number}-{abs(hash(body)) % 10**8}@example.net", date=START,
                       in_reply_to=in_reply_to, references=[in_reply_to] if in_reply_to else [])


def play(conversations: list[Conversation], process: Processor, store: CaseStore, to: str,
         offset: int = 0) -> list[float]:
    """Process every email of the conversations in order; per-email wall times in seconds
    (building each test email is not timed)."""
    times = []
    for index, conversation in enumerate(conversations):
        number = offset + index
        raw = _raw(conversation, number, conversation.first, None, to)
        started = time.perf_counter()
        result = process(raw)
        times.append(time.perf_counter() - started)
        if conversation.reply is None:
            continue
        last = store.last_message(result.case_id) if result.case_id else None
        raw = _raw(conversation, number, conversation.reply, last.message_id if last else None, to)
        started = time.perf_counter()
        process(raw)
        times.append(time.perf_counter() - started)
    return times


@contextmanager
def production_agent(catalog: Catalog, workdir: Path, name: str, brain: OfflineBrain | None = None,
                     ) -> Iterator[CaseAgent]:
    with agent_on(catalog, f"sqlite:///{workdir / name}.db", brain) as agent:
        yield agent


@contextmanager
def agent_on(catalog: Catalog, db: str, brain: OfflineBrain | None = None) -> Iterator[CaseAgent]:
    store = CaseStore(db)
    with open_checkpointer(db) as checkpointer:
        agent = CaseAgent(Context(db_url=db, catalog=catalog, store=store, clock=FixedClock(START),
                                  brain_engine=brain or OfflineBrain()), checkpointer)
        agent.warm_up()  # as a long-running service does once at start
        yield agent
    store.close()


class PlainResult(BaseModel):
    case_id: int | None


def plain_processor(agent: CaseAgent) -> Processor:
    """The same brain, tools and node functions called in a straight line: no graph, no checkpointer."""
    runtime = Runtime(context=agent.context)
    env = agent.env
    steps: dict[str, Callable[..., dict[str, Any]]] = {
        "set_aside": set_aside, "understand": wiring.then_decide(understand), "guard": guard, "compose": compose,
        "send": send, "resolve": resolve, "route": route, "close": close, "update_only": update_only,
        "consult": consult,
    }
    following: dict[str, Callable[[AgentState, Runtime[Context]], str]] = {
        "understand": wiring.pure(wiring.after_understand), "guard": wiring.after_guard,
        "consult": wiring.pure(wiring.carry_out), "compose": wiring.pure(wiring.after_compose),
    }

    def process(raw: bytes) -> PlainResult:
        email = parse_email(raw, own_addresses=[env.catalog.mailbox])
        receipt = receive(env.catalog, env.store, env.clock, email)
        state = AgentState(**run_input(message_pk=receipt.message_pk, case_id=receipt.case_id))
        state = state.model_copy(update=ingest(state, runtime))
        step = wiring.after_ingest(state)
        while step not in (END, "review"):
            state = state.model_copy(update=steps[step](state, runtime))
            step = following[step](state, runtime) if step in following else END
        return PlainResult(case_id=receipt.case_id)

    return process


def prefill(store: CaseStore, cases: int, batch: int = 5000) -> None:
    """Bulk-insert closed cases with two messages each, as a store in production would hold."""
    with store.engine.begin() as connection:
        for first in range(1, cases + 1, batch):
            ids = range(first, min(first + batch, cases + 1))
            connection.execute(insert(schema.cases), [
                {"id": i, "number": f"OLD-{i:08d}", "title": "Archived request", "status": CaseStatus.CLOSED,
                 "lob": "orders", "customer_email": f"old{i}@example.org", "info_requests": 0, "follow_ups": 0,
                 "created_at": START - timedelta(days=400), "updated_at": START - timedelta(days=400)} for i in ids])
            connection.execute(insert(schema.messages), [
                {"case_id": i, "direction": direction, "message_id": f"old-{i}-{direction}@example.org",
                 "from_address": f"old{i}@example.org", "subject": "Archived request", "body_text": "Old email.",
                 "new_text": "Old email.", "at": START - timedelta(days=400), "processed": True,
                 "references": "", "to_addresses": "", "raw": ""}
                for i in ids for direction in (Direction.INBOUND, Direction.OUTBOUND)])
        if connection.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("cases", "messages"):
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))


# --- worker processes on a server database --------------------------------------------------------

WORKER_COUNTS = (1, 2, 4)
CASES_PER_WORKER = 32
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


def empty_database(db: str) -> None:
    """Every row of the store and the checkpoints gone (the schema stays): the next figure starts
    from the same empty database."""
    store = CaseStore(db)
    with store.engine.begin() as connection:
        present = set(inspect(connection).get_table_names())
        tables = [table.name for table in schema.metadata.sorted_tables] + [
            name for name in CHECKPOINT_TABLES if name in present]
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    store.close()


def refuse_a_database_with_cases(db: str) -> None:
    store = CaseStore(db)
    cases = store.count_cases()
    store.close()
    if cases:
        raise ValueError(f"the bench empties --db between figures, and this database holds {cases} case(s): "
                         "give it a database of its own")


def measure_workers(catalog: Catalog, db: str, delay_ms: float, emails_per_worker: int,
                    progress: Callable[[str], None]) -> dict[int, float]:
    """Emails per second with 1, 2 and 4 worker processes sharing ``db``, each running
    CASES_PER_WORKER emails at once from the queue (``CaseAgent.take_next``, as ``run`` does) with a
    brain that waits ``delay_ms`` per call. The emails (first emails of distinct customers) are
    stored before the clock starts; each worker's start-up is not timed."""
    rates = {}
    context = multiprocessing.get_context("fork")
    for workers in WORKER_COUNTS:
        emails = emails_per_worker * workers
        progress(f"workers: {emails} emails through {workers} worker process(es) on {shown(db)}, "
                 f"{CASES_PER_WORKER} cases at once each, brain waiting {delay_ms:.0f} ms per call")
        empty_database(db)
        raws = [_raw(c, n, c.first, None, catalog.mailbox)
                for n, c in enumerate(generate_conversations(catalog, emails * 2, seed=5)[:emails])]
        with agent_on(catalog, db) as agent:
            for raw in raws:
                agent.store_email(raw, "bench")
        ready, go = context.Barrier(workers + 1), context.Event()
        processes = [context.Process(target=_bench_worker, args=(catalog, db, delay_ms, ready, go))
                     for _ in range(workers)]
        for process in processes:
            process.start()
        ready.wait()
        started = time.perf_counter()
        go.set()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
        store = CaseStore(db)
        left = store.count_queued()
        store.close()
        if left or any(process.exitcode for process in processes):
            raise RuntimeError(f"a bench worker failed: {left} email(s) left in the queue")
        rates[workers] = emails / elapsed
    return rates


def shown(db: str) -> str:
    """The database's URL without its password."""
    return database_url(db).render_as_string(hide_password=True)


def _bench_worker(catalog: Catalog, db: str, delay_ms: float, ready: Any, go: Any) -> None:
    with agent_on(catalog, db, DelayedBrain(delay_ms / 1000)) as agent:
        ready.wait()
        go.wait()

        def drain() -> None:
            while agent.take_next() is not None:
                pass

        with ThreadPoolExecutor(max_workers=CASES_PER_WORKER) as pool:
            for future in [pool.submit(drain) for _ in range(CASES_PER_WORKER)]:
                future.result()


def _ms(seconds: list[float]) -> tuple[float, float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.mean(ordered) * 1000, statistics.median(ordered) * 1000, p95 * 1000


def run_bench(catalog_path: Path, emails: int = 2000, scale_large: int = 100_000, scale_small: int = 1000,
              scale_emails: int = 300, concurrency_emails: int = 200, workers: int = 32, delay_ms: float = 200,
              suite: Path | None = Path("evals/threads"), progress: Callable[[str], None] = print,
              db: str | None = None, emails_per_worker: int = 256) -> BenchReport:
    """``db``: a PostgreSQL database of its own, for the scale figure and worker processes (see above)."""
    catalog = load_catalog(catalog_path).without_agents()
    if db is not None:
        refuse_a_database_with_cases(db)
    to = catalog.mailbox
    with tempfile.TemporaryDirectory(prefix="case-agent-bench-") as tmp:
        workdir = Path(tmp)
        conversations = generate_conversations(catalog, emails)
        warmup = generate_conversations(catalog, 30, seed=99)

        progress(f"throughput and framework overhead: {emails} emails through the graph (SQLite store + "
                 f"SQLite checkpointer) and straight-line, alternating every {OVERHEAD_CHUNK} conversations")
        with production_agent(catalog, workdir, "throughput") as agent, \
                production_agent(catalog, workdir, "plain") as plain_agent:
            process_plain = plain_processor(plain_agent)
            play(warmup, agent.process_email, agent.env.store, to, offset=10**6)
            play(warmup, process_plain, plain_agent.env.store, to, offset=10**6)
            graph_times, plain_times = [], []
            for start in range(0, len(conversations), OVERHEAD_CHUNK):
                chunk = conversations[start:start + OVERHEAD_CHUNK]
                graph_times += play(chunk, agent.process_email, agent.env.store, to, offset=start)
                plain_times += play(chunk, process_plain, plain_agent.env.store, to, offset=start)
        mean_graph, p50, p95 = _ms(graph_times)
        mean_plain = statistics.mean(plain_times) * 1000

        scale = {}
        sample = generate_conversations(catalog, scale_emails, seed=11)
        for size in (scale_small, scale_large):
            progress(f"scale: {scale_emails} emails on a store pre-filled with {size:,} cases"
                     + (f" ({shown(db)})" if db else ""))
            if db is not None:
                empty_database(db)
            with (agent_on(catalog, db) if db is not None else production_agent(catalog, workdir, f"scale{size}")
                  ) as agent:
                prefill(agent.env.store, size)
                play(warmup, agent.process_email, agent.env.store, to, offset=10**6)
                scale[size] = statistics.mean(play(sample, agent.process_email, agent.env.store, to)) * 1000

        progress(f"concurrency: {concurrency_emails} emails, brain waiting {delay_ms:.0f} ms per call, "
                 f"serial then {workers} cases at once")
        # First emails of distinct customers: each opens its own case, so no two workers share a case.
        first_emails = [_raw(c, n, c.first, None, to) for n, c in
                        enumerate(generate_conversations(catalog, concurrency_emails * 2, seed=5)[:concurrency_emails])]
        with production_agent(catalog, workdir, "serial", DelayedBrain(delay_ms / 1000)) as agent:
            started = time.perf_counter()
            for raw in first_emails:
                agent.process_email(raw)
            serial_s = time.perf_counter() - started
        with production_agent(catalog, workdir, "concurrent", DelayedBrain(delay_ms / 1000)) as agent:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(agent.process_email, first_emails))
            concurrent_s = time.perf_counter() - started

        rates = (measure_workers(catalog, db, delay_ms, emails_per_worker, progress) if db is not None else None)

        calls = 0.0
        if suite is not None and suite.is_dir():
            progress(f"model calls: replaying {suite}")
            report = run_suite(suite)
            calls = report.model_calls / report.inbound_emails if report.inbound_emails else 0.0

    return BenchReport(
        emails=len(graph_times), emails_per_s=len(graph_times) / sum(graph_times), p50_ms=p50, p95_ms=p95,
        peak_memory_mb=peak_rss_mb(), graph_ms_per_email=mean_graph, plain_ms_per_email=mean_plain,
        overhead_ratio=mean_graph / mean_plain, scale_small_cases=scale_small, scale_large_cases=scale_large,
        scale_small_ms=scale[scale_small], scale_large_ms=scale[scale_large],
        scale_ratio=scale[scale_large] / scale[scale_small], concurrency_emails=len(first_emails),
        concurrency_workers=workers, brain_delay_ms=delay_ms, serial_s=serial_s, concurrent_s=concurrent_s,
        concurrency_speedup=serial_s / concurrent_s, model_calls_per_email=calls,
        scale_database=database_url(db).get_backend_name() if db else "sqlite", workers_emails_per_s=rates,
        workers_speedup_2=rates[2] / rates[1] if rates else None,
        workers_speedup_4=rates[4] / rates[1] if rates else None,
    )


def print_bench_report(console: Any, report: BenchReport) -> None:
    from rich.table import Table

    table = Table("figure", "value", "how", title="case-agent bench")
    table.add_row("throughput", f"{report.emails_per_s:.1f} emails/s",
                  f"{report.emails} generated emails, one process, SQLite store + checkpointer")
    table.add_row("latency p50 / p95", f"{report.p50_ms:.1f} / {report.p95_ms:.1f} ms", "per inbound email")
    table.add_row("peak memory", f"{report.peak_memory_mb:.0f} MB", "resident set size of the whole run")
    table.add_row("framework overhead", f"{report.overhead_ratio:.2f}×",
                  f"graph {report.graph_ms_per_email:.1f} ms vs straight-line {report.plain_ms_per_email:.1f} ms")
    table.add_row("scale", f"{report.scale_ratio:.2f}×",
                  f"{report.scale_large_ms:.1f} ms with {report.scale_large_cases:,} cases vs "
                  f"{report.scale_small_ms:.1f} ms with {report.scale_small_cases:,} ({report.scale_database})")
    table.add_row("concurrency", f"{report.concurrency_speedup:.1f}×",
                  f"{report.concurrency_emails} emails, brain waits {report.brain_delay_ms:.0f} ms: serial "
                  f"{report.serial_s:.1f} s vs {report.concurrency_workers} at once {report.concurrent_s:.1f} s")
    if report.workers_emails_per_s:
        rates = report.workers_emails_per_s
        table.add_row("worker processes", f"{report.workers_speedup_2:.2f}× / {report.workers_speedup_4:.2f}×",
                      "2 / 4 processes over 1 on one database, " + ", ".join(
                          f"{n}: {rate:.1f} emails/s" for n, rate in sorted(rates.items()))
                      + f"; {CASES_PER_WORKER} cases at once each, brain waits {report.brain_delay_ms:.0f} ms")
    table.add_row("model calls", f"{report.model_calls_per_email:.2f} per inbound email", "replaying evals/threads")
    console.print(table)
