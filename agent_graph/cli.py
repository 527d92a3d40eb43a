"""``case-agent``: the command line of the case agent.

Only the light modules are imported here: each command imports what it needs when it runs, so
``--help``, ``cases`` and ``show`` do not wait for the classifier, the graph or the extractors.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperOption

from agent_graph.clock import Clock, FixedClock, SystemClock, parse_instant
from agent_graph.defaults import DEFAULT_CATALOG, DEFAULT_DB, PROJECT
from agent_graph.domain import CaseStatus
from agent_graph.errors import CaseAgentError, CatalogError, CatalogNotFound, StoreUnavailable, bounded
from agent_graph.intent_eval.choices import IntentDataset, ModelKind

if TYPE_CHECKING:
    from pydantic import BaseModel

    from agent_graph.catalog import AutomationLevel, Catalog, Intent
    from agent_graph.dataverse.sync import CaseSync
    from agent_graph.service import CaseAgent, TurnResult
    from agent_graph.store import CaseStore, QuarantinedEmail

Report = TypeVar("Report", bound="BaseModel")


class ManualCommand(TyperCommand):
    """Help laid out like a manual page: ``--db URL``, ``CASE``, ``[CASE]``; no Python types.

    Typer shows each parameter's Python type (``<bool>``, ``<list[str]>``, ``{path}``); this
    command lists arguments by their metavar and options the way click itself does."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                arguments.append((_argument_name(param), param.help or ""))
            elif isinstance(param, TyperOption) and not param.hidden:
                options.append(_option_row(param))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: TyperArgument) -> str:
    return param.metavar or (param.name or "value").upper()


def _option_row(param: TyperOption) -> tuple[str, str]:
    """``--db URL``, ``-v, --verbose``, ``--status [new|...]``, and the help with its env var and default."""
    names = ", ".join([*param.opts, *param.secondary_opts])
    if not param.is_flag:
        described = param.type_descriptor
        choices = [str(getattr(c, "value", c)) for c in described.choices or ()] if described.is_choice else []
        names += " " + (param.metavar or (f"[{'|'.join(choices)}]" if choices else "VALUE"))
    extras = []
    if param.envvar:
        extras.append(f"env var: {param.envvar}")
    default = param.default
    if param.show_default is not False and not param.is_flag and default not in (None, "", [], ()):
        extras.append(f"default: {getattr(default, 'value', default)}")
    if param.required:
        extras.append("required")
    help_text = param.help or ""
    return names, f"{help_text}  [{'; '.join(extras)}]" if extras else help_text


app = typer.Typer(
    help="Resolve customer-support cases by email: intake, intent, missing information, templates, "
         "approval, follow-up. Runs offline on SQLite by default.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True, highlight=False)
command = app.command

DbOption = Annotated[str, typer.Option("--db", envvar="CASE_AGENT_DB", metavar="URL",
                                       help="SQLAlchemy URL of the case store.")]
CatalogOption = Annotated[Path | None, typer.Option(
    "--catalog", envvar="CASE_AGENT_CATALOG", metavar="FILE", show_default=False,
    help="The service catalog (YAML, formats.md §1). Default: the project's examples/catalog.yaml, "
         "whatever the current folder.")]
AutomationOption = Annotated[list[str] | None, typer.Option(
    "--automation", metavar="LOB=LEVEL",
    help="Override a line of business's automation for this run; LEVEL is full, confirm or disabled. "
         "Repeat for several.")]
NowOption = Annotated[str | None, typer.Option("--now", metavar="TIME",
                                               help="Pretend the time is TIME, e.g. 2026-03-02T09:15:00Z.")]
JsonOption = Annotated[Path | None, typer.Option("--json", metavar="FILE", help="Write the report as JSON to FILE.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the agent does.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


# --- settings: each is checked before any work, and a bad one is one line on stderr, exit code 2 ---

def _catalog(path: Path | None) -> Catalog:
    """The catalog at ``path``, else the default (the project's example catalog)."""
    from agent_graph.catalog import load_catalog

    try:
        return load_catalog(path or DEFAULT_CATALOG)
    except CatalogNotFound as exc:
        hint = "" if path else "; give one with --catalog FILE or CASE_AGENT_CATALOG"
        raise _fail(f"{exc}{hint}") from None
    except CatalogError as exc:
        raise _fail(str(exc)) from None


def _clock(now: str | None) -> Clock:
    if now is None:
        return SystemClock()
    try:
        return FixedClock(parse_instant(now))
    except ValueError:
        raise _fail(f"--now {bounded(now, 60)!r}: not an ISO-8601 instant such as 2026-03-02T09:15:00Z") from None


def _store(db: str, create: bool) -> CaseStore:
    """The case store; ``create=False`` for commands that only read or answer existing cases."""
    from agent_graph.store import CaseStore

    try:
        return CaseStore(db, create=create)
    except StoreUnavailable as exc:
        raise _fail(f"--db: {exc}") from None


def _shown(db: str) -> str:
    """The database URL to print: its password, if any, as ``***``."""
    from agent_graph.store.repository import database_url

    try:
        return database_url(db).render_as_string(hide_password=True)
    except StoreUnavailable:
        return bounded(db, 100)


def _read_text(option: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{option} {path}: cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _fail(f"{option} {path}: not UTF-8 text (byte {exc.start})") from None


def _writable_output(option: str, path: Path | None) -> None:
    """Refuse, before a long run, a report path the report could not be written to afterwards."""
    if path is None:
        return
    folder = path.parent
    if path.is_dir():
        raise _fail(f"{option} {path}: that is a folder; give a file name")
    if not folder.is_dir():
        raise _fail(f"{option} {path}: there is no folder {folder} (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _fail(f"{option} {path}: not writable")


def _write_json(path: Path | None, report: BaseModel, what: str = "report") -> None:
    """Write a report given --json FILE and say where. Its folder must exist: :func:`_writable_output`
    checked it before the run, and neither makes one."""
    if path is None:
        return
    path.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    console.print(f"{what} written to {path}")


def _automation(values: list[str] | None, catalog: Catalog) -> dict[str, AutomationLevel]:
    from agent_graph.catalog import AutomationLevel

    overrides = {}
    for value in values or []:
        lob, _, level = value.partition("=")
        if catalog.lob(lob) is None:
            raise _fail(f"--automation {value}: the catalog has no line of business '{lob}'")
        try:
            overrides[lob] = AutomationLevel(level)
        except ValueError:
            raise _fail(f"--automation {value}: the level must be full, confirm or disabled") from None
    return overrides


@contextmanager
def _agent(db: str, catalog_path: Path | None, automation: list[str] | None = None, now: str | None = None,
           create_store: bool = True, recovered: list[TurnResult] | None = None) -> Iterator[CaseAgent]:
    """The agent on the store at ``db``, every setting checked before the store is opened. Runs a
    crash left unfinished are finished first (and added to ``recovered``)."""
    catalog = _catalog(catalog_path)
    clock = _clock(now)
    overrides = _automation(automation, catalog)
    store = _store(db, create_store)
    from agent_graph.context import Context
    from agent_graph.service import CaseAgent, open_checkpointer

    with open_checkpointer(db) as checkpointer:
        agent = CaseAgent(Context(db_url=db, catalog=catalog, store=store, clock=clock, automation=overrides),
                          checkpointer)
        for result in agent.recover():
            console.print(f"resumed an unfinished run: {_result_line(result)}")
            if recovered is not None:
                recovered.append(result)
        yield agent
    store.close()


def _result_line(result: TurnResult) -> str:
    outcome = result.outcome
    action = outcome.action.value if outcome.action else "nothing"
    parts = [result.case_number or "(no case)", action, f"outbound {outcome.outbound.value}",
             f"status {outcome.status.value if outcome.status else '-'}"]
    if outcome.note:
        parts.append(outcome.note)
    return " · ".join(parts)


@command(cls=ManualCommand)
def process(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="An .eml file, or a folder of them (processed in name order).")],
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
    automation: AutomationOption = None,
    now: NowOption = None,
) -> None:
    """Process inbound emails: thread each to a case and act on it. One that fails is quarantined."""
    files = sorted(path.glob("*.eml")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise _fail(f"{path}: no .eml file there")
    with _agent(db, catalog, automation, now) as agent:
        results = [_take_in(agent, file.read_bytes(), str(file), file.name) for file in files]
    quarantined = sum(result.quarantined is not None for result in results)
    console.print(f"{len(results) - quarantined} processed, {quarantined} quarantined")


def _take_in(agent: CaseAgent, raw: bytes, source: str, label: str) -> TurnResult:
    """Process one email (quarantining it on failure) and print what became of it."""
    result = agent.take_in(raw, source)
    if result.quarantined is not None:
        typer.echo(f"{source}: {result.outcome.note} — nothing was sent; see case-agent quarantine show "
                   f"{result.quarantined}", err=True)
        return result
    console.print(f"{label}: {_result_line(result)}")
    if result.pending_review:
        console.print(f"  draft waiting for review: case-agent review {result.case_number}")
    return result


@command(cls=ManualCommand)
def run(
    mailbox: Annotated[str, typer.Option("--mailbox", envvar="CASE_AGENT_MAILBOX", help=(
        "Where mail comes in: imap://USER:PASSWORD@HOST:PORT/FOLDER (imaps:// for TLS, ?starttls=true, "
        "?auth=xoauth2, ?password_file=PATH; password also from CASE_AGENT_MAILBOX_PASSWORD), "
        "graph://MAILBOX@DOMAIN (a Microsoft 365 shared mailbox, docs/microsoft.md), or a folder of .eml files."))],
    smtp: Annotated[str | None, typer.Option("--smtp", envvar="CASE_AGENT_SMTP", help=(
        "Where mail goes out: smtp://USER:PASSWORD@HOST:PORT (smtps://, ?starttls=true, ?auth=xoauth2; "
        "password also from CASE_AGENT_SMTP_PASSWORD), or a folder to write sent mail to. Not needed with "
        "--mailbox graph://…, which sends through Microsoft Graph."))] = None,
    sent_folder: Annotated[str | None, typer.Option("--sent-folder", help=(
        "The IMAP account's Sent folder: searched by Message-ID before an email is sent again after a "
        "crash. Gmail and Microsoft 365 file mail sent by SMTP there themselves."))] = None,
    append_sent: Annotated[bool, typer.Option("--append-sent", help=(
        "Also append a copy of each sent email to --sent-folder (servers that do not file it).")) ] = False,
    after_processing: Annotated[str, typer.Option("--after-processing", help=(
        "What to do with a processed email: keep, seen, or move:FOLDER."))] = "keep",
    once: Annotated[bool, typer.Option("--once", help=(
        "Process everything waiting, deliver the outbox, run due clock steps, exit."))] = False,
    tick_every: Annotated[float, typer.Option("--tick-every", min=1, help=(
        "Seconds between two runs of the clock (follow-ups, closures)."))] = 300,
    poll: Annotated[float | None, typer.Option("--poll", min=0.1, help=(
        "Look at the mailbox every N seconds instead of waiting with IMAP IDLE."))] = None,
    retry_after: Annotated[float, typer.Option("--retry-after", min=0, help=(
        "Seconds before the first retry of a temporary delivery failure (doubling, up to an hour)."))] = 30,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json.")] = "text",
    workers: Annotated[int, typer.Option("--workers", min=1, help=(
        "Worker processes sharing the work (restarted when one dies); any number of `run` processes "
        "may share one database too: docs/database.md."))] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help=(
        "Emails each worker runs at once (a language model's waits overlap)."))] = 8,
    cases: Annotated[str, typer.Option("--cases", envvar="CASE_AGENT_CASES", help=(
        "The cases' system of record: local (the store only) or dataverse (also Dynamics 365 at "
        "CASE_AGENT_DATAVERSE_URL, docs/microsoft.md)."))] = "local",
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
    automation: AutomationOption = None,
) -> None:
    """Run the agent on a mailbox until SIGTERM/SIGINT (or once, with --once): docs/mail.md."""
    from agent_graph.mail import open_inbox, open_sender
    from agent_graph.runner import MailService, RunSettings, configure_logging, supervise

    if log_format not in ("text", "json"):
        raise _fail(f"--log-format {log_format}: choose text or json")
    configure_logging(log_format)
    try:  # once here, so that a wrong setting is one line before any worker starts
        open_inbox(mailbox, after_processing, poll).close()
        open_sender(smtp, mailbox, sent_folder, append_sent).close()
    except CaseAgentError as exc:
        raise _fail(str(exc)) from None
    if cases not in ("local", "dataverse"):
        raise _fail(f"--cases {cases}: choose local or dataverse")
    settings = RunSettings(once=once, tick_every=tick_every, poll=poll, first_retry=retry_after,
                           concurrency=concurrency)

    def work() -> int:
        inbox = open_inbox(mailbox, after_processing, poll)
        sender = open_sender(smtp, mailbox, sent_folder, append_sent)
        with _agent(db, catalog, automation) as agent:
            agent.warm_up()
            try:
                sync = _dataverse_sync(agent, retry_after) if cases == "dataverse" else None
                return MailService(agent, inbox, sender, settings, sync).run()
            except CaseAgentError as exc:  # a setting found wrong only on use (e.g. OAuth variables)
                raise _fail(str(exc)) from None

    if workers == 1:
        raise typer.Exit(code=work())
    with _agent(db, catalog, automation):  # the database checked and migrated once, before the workers start
        pass
    raise typer.Exit(code=supervise(workers, work, once))


def _dataverse_sync(agent: CaseAgent, first_retry: float) -> CaseSync:
    from datetime import timedelta

    from agent_graph.dataverse.client import Dataverse
    from agent_graph.dataverse.sync import CaseSync
    from agent_graph.errors import ConfigurationError
    from agent_graph.microsoft import MicrosoftSettings

    settings = MicrosoftSettings.from_environment()
    if not settings.dataverse_url:
        raise ConfigurationError("--cases dataverse needs CASE_AGENT_DATAVERSE_URL (https://ORG.crm.dynamics.com)")
    env = agent.env
    return CaseSync(env.store, env.catalog, env.clock, Dataverse(settings), timedelta(seconds=first_retry))


@command(cls=ManualCommand)
def tick(db: DbOption = DEFAULT_DB, catalog: CatalogOption = None, now: NowOption = None) -> None:
    """Send the follow-ups that are due and close cases whose follow-ups ran out."""
    with _agent(db, catalog, now=now) as agent:
        results = agent.tick()
        for result in results:
            console.print(_result_line(result))
        console.print(f"{len(results)} case(s) acted on")


@command(cls=ManualCommand)
def review(
    case: Annotated[str | None, typer.Argument(metavar="CASE",
                                               help="Case number; omit to list the drafts waiting.")] = None,
    accept: Annotated[bool, typer.Option("--accept", help="Send the draft as it is.")] = False,
    edit_body: Annotated[Path | None, typer.Option("--edit-body", metavar="FILE",
                                                   help="Send the text of FILE as the body.")] = None,
    edit_subject: Annotated[str | None, typer.Option("--edit-subject", metavar="SUBJECT",
                                                     help="Send with this subject.")] = None,
    respond: Annotated[str | None, typer.Option("--respond", metavar="TEXT",
                                                help="Feedback: discard the draft, route the case.")] = None,
    ignore: Annotated[bool, typer.Option("--ignore", help="Discard the draft and route the case.")] = False,
    reviewer: Annotated[str | None, typer.Option("--reviewer", metavar="NAME", envvar="USER",
                                                 help="Who answers (recorded; default $USER).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", metavar="CODE",
                                               help="Why the draft is ignored, e.g. wrong_intent (recorded).")] = None,
    useful: Annotated[bool | None, typer.Option("--useful/--not-useful",
                                                help="Feedback: was the draft useful (recorded).")] = None,
    comment: Annotated[str | None, typer.Option("--comment", metavar="TEXT",
                                                help="Feedback in words (recorded).")] = None,
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
    now: NowOption = None,
) -> None:
    """List drafts waiting for a representative, or answer one."""
    new_body = _read_text("--edit-body", edit_body) if edit_body is not None else None
    recovered: list[TurnResult] = []
    with _agent(db, catalog, now=now, create_store=False, recovered=recovered) as agent:
        store = agent.env.store
        if case is None:
            table = Table("case", "to", "subject", "action", title="Drafts waiting for review")
            for item in store.pending_drafts():
                table.add_row(store.case(item.case_id).number, item.to_address, item.subject, item.action)
            console.print(table)
            return
        found = store.case_by_number(case)
        if found is None:
            raise _fail(f"no case {case}")
        pending = agent.pending_review(found.id)
        if pending is None and any(result.case_id == found.id for result in recovered):
            # the draft was answered before a crash: the resumed run (above) carried the answer out
            console.print(f"{found.number}: the review answered before the interruption is now carried out "
                          f"(see above); no draft is waiting any more")
            return
        if pending is None:
            raise _fail(f"case {case} has no draft waiting for review")
        chosen = [accept, edit_body is not None or edit_subject is not None, respond is not None, ignore]
        if sum(chosen) != 1:
            console.print(pending["description"])
            console.print(f"\n[bold]Subject:[/] {pending['action_request']['args']['subject']}\n")
            console.print(pending["action_request"]["args"]["body"])
            raise _fail("choose one of --accept, --edit-body/--edit-subject, --respond, --ignore")
        from agent_graph.review import human_response
        from agent_graph.state import ReviewKind

        kind = [ReviewKind.ACCEPT, ReviewKind.EDIT, ReviewKind.RESPONSE, ReviewKind.IGNORE][chosen.index(True)]
        response = human_response(pending, kind, subject=edit_subject or None, body=new_body, text=respond,
                                  reviewer=reviewer, reason_code=reason, comment=comment, useful=useful)
        try:
            console.print(_result_line(agent.answer_review(found.id, [response])))
        except ValueError as exc:
            raise _fail(str(exc)) from None


@command(cls=ManualCommand)
def act(
    case: Annotated[str, typer.Argument(metavar="CASE", help="Case number, e.g. CAS-000001.")],
    action: Annotated[str, typer.Option("--action", metavar="[resolve|enrich]",
                                        help="resolve: run the resolution path now (custom agent or template); "
                                             "enrich: read --source into the case's fields.")],
    level: Annotated[str | None, typer.Option("--automation", metavar="[full|confirm]",
                                              help="The automation level for this run only.")] = None,
    source: Annotated[str | None, typer.Option("--source", metavar="MESSAGE-ID",
                                               help="A stored message of the case (required by enrich).")] = None,
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
    now: NowOption = None,
) -> None:
    """Act on a case by API: resolve it now, or enrich it from a stored message. Once per (case, action, source)."""
    from agent_graph.act import ActAction, ActRequest
    from agent_graph.act import act as act_on_case
    from agent_graph.catalog import AutomationLevel

    if action not in {a.value for a in ActAction}:
        raise _fail(f"--action {bounded(action, 40)!r}: choose resolve or enrich")
    if level not in (None, AutomationLevel.FULL, AutomationLevel.CONFIRM):
        raise _fail(f"--automation {bounded(level or '', 40)!r}: choose full or confirm")
    request = ActRequest(case=case, action=ActAction(action), source=source,
                         automation=AutomationLevel(level) if level else None)
    with _agent(db, catalog, now=now, create_store=False) as agent:
        try:
            result = act_on_case(agent, request)
        except CaseAgentError as exc:
            raise _fail(str(exc)) from None
    console.print(_result_line(result))
    if result.pending_review:
        console.print(f"  draft waiting for review: case-agent review {result.case_number}")


@command(cls=ManualCommand)
def cases(db: DbOption = DEFAULT_DB,
          status: Annotated[CaseStatus | None, typer.Option(
              metavar="STATUS", help=f"Only cases with STATUS: {', '.join(CaseStatus)}.")] = None) -> None:
    """A table of cases."""
    store = _store(db, create=False)
    table = Table("case", "status", "LOB", "intent", "customer", "title", "queue", "updated")
    for case in store.list_cases(status=status.value if status else None):
        table.add_row(case.number, case.status, case.lob, case.intent or "—", case.customer_email, case.title,
                      case.queue or "", case.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@command(cls=ManualCommand)
def show(case: Annotated[str, typer.Argument(metavar="CASE", help="Case number, e.g. CAS-000001.")],
         db: DbOption = DEFAULT_DB) -> None:
    """A case's timeline: emails, decisions, field changes; and the hand-off summary of a routed case."""
    from agent_graph.timeline import case_timeline, latest_handoff

    store = _store(db, create=False)
    found = store.case_by_number(case)
    if found is None:
        raise _fail(f"no case {case} in {_shown(db)}")
    console.print(f"[bold]{found.number}[/] {found.title} — {found.status}, LOB {found.lob}, "
                  f"intent {found.intent or 'not identified'}, customer {found.customer_email}, "
                  f"language {found.language or 'not known yet'}")
    table = Table("time", "who", "what", "detail", show_lines=False)
    for entry in case_timeline(store, found.id):
        table.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.who, entry.what, entry.detail)
    console.print(table)
    handoff = latest_handoff(store, found.id)
    if handoff is not None:
        console.print(f"[bold]Hand-off summary[/] ({handoff.provenance})\n{handoff.text}", highlight=False)


@command(cls=ManualCommand)
def field(
    case: Annotated[str, typer.Argument(metavar="CASE", help="Case number, e.g. CAS-000001.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The field (an attribute of the case's intent).")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Its value, checked as the agent's values are.")],
    by: Annotated[str | None, typer.Option("--by", metavar="NAME", envvar="USER",
                                           help="The representative who sets it (default $USER).")] = None,
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
) -> None:
    """Set a case field as a representative: the agent never overwrites it (unless the catalog says
    agent_may_override_human_edits)."""
    from agent_graph.context import Context, services
    from tools.update_case_fields import EditFieldArgs, edit_field

    chosen = _catalog(catalog)
    store = _store(db, create=False)
    found = store.case_by_number(case)
    if found is None:
        raise _fail(f"no case {case} in {_shown(db)}")
    if not by:
        raise _fail("--by NAME: who sets the field (or set $USER)")
    try:
        written = edit_field(services(Context(catalog=chosen, store=store)),
                             EditFieldArgs(case_id=found.id, name=name, value=value, person=by))
    except CaseAgentError as exc:
        raise _fail(str(exc)) from None
    console.print(f"{found.number}: {written.name} = {written.value} (set by {written.set_by})", highlight=False)


@command(cls=ManualCommand)
def export(
    fmt: Annotated[str, typer.Option("--format", metavar="[jsonl|csv]", help="JSON Lines or CSV.")] = "jsonl",
    since: Annotated[str | None, typer.Option("--since", metavar="DATE",
                                              help="Only what happened at or after DATE (ISO 8601).")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write to FILE (default: stdout).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Cases, messages and interactions in one documented schema (docs/export.md)."""
    from agent_graph.export import ExportFormat, export_rows, write_export

    if fmt not in {f.value for f in ExportFormat}:
        raise _fail(f"--format {bounded(fmt, 20)!r}: choose jsonl or csv")
    start = _since(since)
    _writable_output("--out", out)
    store = _store(db, create=False)
    if out is None:
        write_export(export_rows(store, start), sys.stdout, ExportFormat(fmt))
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(export_rows(store, start), handle, ExportFormat(fmt))
    console.print(f"{count} rows written to {out}", highlight=False)


@command(cls=ManualCommand)
def report(
    html: Annotated[Path | None, typer.Option("--html", metavar="FILE",
                                              help="Write an HTML page with charts to FILE.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE",
                                              help="Only cases opened at or after DATE (ISO 8601).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Per line of business and intent: resolutions, escalations, information requests, draft acceptance
    and edits, time to first response and to resolution."""
    from agent_graph.usage_report import SHORT_HEADER, build_report, render_html, table_rows

    start = _since(since)
    _writable_output("--html", html)
    built = build_report(_store(db, create=False), SystemClock().now(), start)
    table = Table(title="Cases per line of business / intent (docs/export.md explains each column)")
    for index, name in enumerate(SHORT_HEADER):
        table.add_column(name, no_wrap=index == 0, justify="left" if index == 0 else "right")
    for row in table_rows(built):
        table.add_row(*row)
    console.print(table)
    if html is not None:
        html.write_text(render_html(built), encoding="utf-8")
        console.print(f"report written to {html}", highlight=False)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise _fail(f"--since {bounded(value, 60)!r}: not a date such as 2026-03-01 or 2026-03-01T09:00:00Z") from None


quarantine_app = typer.Typer(help="Emails that could not be processed: list, show, retry, drop.",
                             invoke_without_command=True, no_args_is_help=False)
app.add_typer(quarantine_app, name="quarantine")
QuarantineId = Annotated[int, typer.Argument(metavar="ID", help="The quarantine id (see case-agent quarantine list).")]


@quarantine_app.callback()
def quarantine_default(ctx: typer.Context, db: DbOption = DEFAULT_DB) -> None:
    """List the quarantined emails (the default)."""
    if ctx.invoked_subcommand is None:
        quarantine_list(db)


@quarantine_app.command("list", cls=ManualCommand)
def quarantine_list(db: DbOption = DEFAULT_DB) -> None:
    """The quarantined emails, two lines each: id, attempts, last attempt, source; the error."""
    entries = _store(db, create=True).quarantined()
    for entry in entries:
        typer.echo(f"#{entry.id}  {entry.attempts} attempt(s), last {entry.last_at:%Y-%m-%d %H:%M}  "
                   f"{entry.source or '(unknown source)'}\n    {entry.error.splitlines()[0] if entry.error else ''}")
    typer.echo(f"{len(entries)} quarantined email(s)")


@quarantine_app.command("show", cls=ManualCommand)
def quarantine_show(entry_id: QuarantineId, db: DbOption = DEFAULT_DB) -> None:
    """One quarantined email: where it came from, the error, and its raw source."""
    entry = _quarantined(_store(db, create=True), entry_id)
    typer.echo(f"#{entry.id} from {entry.source or '(unknown source)'} — {entry.attempts} attempt(s), "
               f"first {entry.first_at:%Y-%m-%d %H:%M}, last {entry.last_at:%Y-%m-%d %H:%M}\n"
               f"error: {entry.error}\n")
    typer.echo(entry.raw.decode("utf-8", errors="backslashreplace"))


@quarantine_app.command("retry", cls=ManualCommand)
def quarantine_retry(
    entry_id: Annotated[int | None, typer.Argument(metavar="ID", help="The quarantine id; omit with --all.")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every quarantined email.")] = False,
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
    automation: AutomationOption = None,
    now: NowOption = None,
) -> None:
    """Process quarantined emails again, as `process` does; those that succeed leave the quarantine."""
    if (entry_id is None) == (not retry_all):
        raise _fail("give one quarantine id, or --all")
    with _agent(db, catalog, automation, now) as agent:
        store = agent.env.store
        entries = store.quarantined() if retry_all else [_quarantined(store, entry_id)]  # type: ignore[arg-type]
        results = [_take_in(agent, entry.raw, entry.source, f"#{entry.id}") for entry in entries]
    still = sum(result.quarantined is not None for result in results)
    console.print(f"{len(results) - still} processed, {still} still quarantined")


@quarantine_app.command("drop", cls=ManualCommand)
def quarantine_drop(entry_id: QuarantineId, db: DbOption = DEFAULT_DB) -> None:
    """Delete a quarantined email for good."""
    if not _store(db, create=True).drop_quarantined(entry_id):
        raise _fail(f"no quarantined email #{entry_id} in {_shown(db)}")
    console.print(f"dropped #{entry_id}")


def _quarantined(store: CaseStore, entry_id: int) -> QuarantinedEmail:
    entry = store.quarantined_email(entry_id)
    if entry is None:
        raise _fail(f"no quarantined email #{entry_id}; see case-agent quarantine list")
    return entry


@command(cls=ManualCommand)
def status(
    db: DbOption = DEFAULT_DB,
    check: Annotated[bool, typer.Option("--check", help=(
        "Health check: exit 0 when the database opens and the workers keep up (each mailbox fetched lately "
        "and without error, no email overdue for delivery), else print what is wrong and exit 1 "
        "(2: the database cannot be opened)."))] = False,
    stale_after: Annotated[float, typer.Option("--stale-after", min=1, metavar="SECONDS", help=(
        "--check: how long a mailbox may go unfetched, or an email undelivered, before it counts as "
        "a problem."))] = 600,
) -> None:
    """Counts at a glance: cases by status, drafts waiting for review, quarantined emails, emails
    stored and waiting for a worker, the outbox (pending and failed deliveries), each mailbox `run`
    reads (last fetch, backlog, last error) and, with --cases dataverse, the Dataverse operations
    still to run."""
    if check:
        _health_check(db, stale_after)
        return
    store = _store(db, create=True)
    by_status = store.count_cases_by_status()
    console.print(f"cases: {sum(by_status.values())}"
                  + "".join(f"\n  {name}: {count}" for name, count in by_status.items()), highlight=False)
    console.print(f"drafts waiting for review: {len(store.pending_drafts())}", highlight=False)
    console.print(f"quarantined emails: {store.count_quarantined()}", highlight=False)
    console.print(f"emails stored and waiting to run: {store.count_queued()}", highlight=False)
    undelivered, failed = store.undelivered(), store.failed_deliveries()
    waiting = [item for item in undelivered if item.attempts]
    console.print(f"outbox: {len(undelivered)} pending delivery ({len(waiting)} after a failed attempt), "
                  f"{len(failed)} failed", highlight=False)
    for item in failed:
        console.print(f"  failed: {store.case(item.case_id).number} outbox #{item.id}: {item.delivery_error}",
                      highlight=False)
    for position in store.mailbox_positions():
        last = f"{position.last_fetch_at:%Y-%m-%d %H:%M:%S}" if position.last_fetch_at else "never"
        console.print(f"mailbox {position.name}: last fetch {last}, backlog {position.backlog or 0}",
                      highlight=False)
        if position.last_error:
            console.print(f"  last error ({position.last_error_at:%Y-%m-%d %H:%M:%S}): {position.last_error}",
                          highlight=False)
    errors = [item for item in waiting if item.delivery_error]
    if errors:
        console.print(f"last delivery error: {errors[-1].delivery_error}", highlight=False)
    from agent_graph.dataverse.sync import outbox_summary

    dataverse = outbox_summary(store)
    if dataverse is not None:
        console.print(f"dataverse: {dataverse.pending} operation(s) pending ({dataverse.retrying} after a failed "
                      f"attempt), {dataverse.failed} failed", highlight=False)
        if dataverse.last_error:
            console.print(f"  last error: {dataverse.last_error}", highlight=False)


def _health_check(db: str, stale_after: float) -> None:
    from datetime import timedelta

    from agent_graph.health import health_problems

    store = _store(db, create=False)
    problems = health_problems(store, SystemClock().now(), timedelta(seconds=stale_after))
    store.close()
    for problem in problems:
        typer.echo(f"unhealthy: {problem}")
    if problems:
        raise typer.Exit(code=1)
    typer.echo(f"healthy: {_shown(db)}")


@command(cls=ManualCommand)
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Bring the case database to the newest schema, creating it when new, and say what was done.

    Every command does the same when it opens the database; run this on its own to upgrade a
    database before starting the workers of a new release (README: PostgreSQL)."""
    store = _store(db, create=True)
    console.print(f"{_shown(db)}: {store.migration.describe()}")
    store.close()


@command(cls=ManualCommand)
def prune(
    older_than: Annotated[str, typer.Option("--older-than", metavar="PERIOD", help=(
        "Prune cases untouched for longer than PERIOD, an ISO-8601 duration: P90D, P12W, P1Y."))],
    personal_data: Annotated[bool, typer.Option("--personal-data", help=(
        "Also remove the personal data of closed cases (addresses, subjects, bodies, field values), keeping "
        "what reports count, and delete quarantined emails as old."))] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")] = False,
    db: DbOption = DEFAULT_DB,
    now: NowOption = None,
) -> None:
    """Retention: remove the checkpoints of finished cases and, with --personal-data, the personal data of
    closed cases (docs/database.md, "Retention")."""
    from agent_graph.retention import Pruner, parse_period
    from agent_graph.service import open_checkpointer

    try:
        period = parse_period(older_than)
    except CaseAgentError as exc:
        raise _fail(f"--older-than {exc}") from None
    clock = _clock(now)
    store = _store(db, create=False)
    with open_checkpointer(db) as checkpointer:
        report = Pruner(store, checkpointer).prune(period, clock.now(), personal_data=personal_data, dry_run=dry_run)
    store.close()
    for line in report.lines():
        console.print(line, highlight=False)


@command("check-catalog", cls=ManualCommand)
def check_catalog(path: Annotated[Path, typer.Argument(metavar="FILE", help="The catalog YAML to validate.")]) -> None:
    """Validate a catalog and print a one-screen summary."""
    from agent_graph.templates import languages_lacking_templates, templates_that_do_not_ask

    catalog = _catalog(path)
    console.print(f"[bold]{catalog.organisation}[/] <{catalog.mailbox}> — valid")
    table = Table("LOB", "automation", "queue", "intent", "required", "optional", "resolution template")
    for lob in catalog.lines_of_business:
        intents: list[Intent | None] = [*lob.intents] or [None]
        for intent in intents:
            table.add_row(
                lob.id, lob.automation.value, lob.queue, intent.id if intent else "—",
                ", ".join(a.name for a in intent.required_attributes) if intent else "",
                ", ".join(a.name for a in intent.attributes if not a.required) if intent else "",
                (intent.resolution.template or "—") if intent else "",
            )
    console.print(table)
    templates = ", ".join(f"{t.id} ({t.purpose.value})" for t in catalog.all_templates())
    console.print(f"templates: {templates or 'none'}; default: {catalog.default_template or 'built-in wording'}")
    follow = catalog.follow_up
    console.print(f"follow-up: {f'after {follow.after}, up to {follow.max_follow_ups}, close {follow.close_after_last} after the last' if follow else 'off'}; "
                  f"limits: {catalog.limits.max_info_requests} info requests, intent confidence {catalog.limits.intent_confidence}, "
                  f"send confidence {catalog.limits.send_confidence}")
    console.print(f"languages: {', '.join(catalog.languages)} (default {catalog.default_language})", highlight=False)
    for warning in [*templates_that_do_not_ask(catalog), *languages_lacking_templates(catalog)]:
        console.print(f"[yellow]warning:[/] {path}: {warning}")
    _check_agents(catalog, path)


def _check_agents(catalog: Catalog, path: Path) -> None:
    """List the custom agents; an in-process graph that does not load is a warning here, not a surprise
    on a customer's case (remote and HTTP agents are only reached when a case calls them)."""
    from agent_graph.custom_agent import CustomAgentError, load_graph

    for intent in catalog.intents():
        if intent.agent is None:
            continue
        console.print(f"custom agent: {intent.id} -> {intent.agent.label} (timeout {intent.agent.timeout:g} s)")
        if intent.agent.graph is not None:
            try:
                load_graph(intent.agent)
            except CustomAgentError as exc:
                console.print(f"[yellow]warning:[/] {path}: {exc}")


@command("eval", cls=ManualCommand)
def eval_command(
    directory: Annotated[Path, typer.Argument(metavar="FOLDER", help="A folder of recorded threads (*.json, formats.md §2).")],
    json_out: JsonOption = None,
    brain: Annotated[str, typer.Option(envvar="CASE_AGENT_BRAIN", metavar="BRAIN", help="Which brain: offline or llm.")] = "offline",
    provider: Annotated[str | None, typer.Option(metavar="PROVIDER", help="llm: openai, azure_openai or compatible.")] = None,
    base_url: Annotated[str | None, typer.Option(metavar="URL", help="llm: an OpenAI-compatible server's base URL.")] = None,
    model: Annotated[str | None, typer.Option(metavar="NAME", help="llm: the model (or Azure deployment) name.")] = None,
    temperature: Annotated[float | None, typer.Option(metavar="T", help="llm: sampling temperature (default 0).")] = None,
    timeout: Annotated[float | None, typer.Option(metavar="SECONDS", help="llm: seconds per request.")] = None,
    max_retries: Annotated[int | None, typer.Option(metavar="N", help="llm: retries on 429/5xx/timeouts.")] = None,
) -> None:
    """Replay recorded threads and score the agent: success, accuracy per key, unsafe actions."""
    from agent_graph.replay import run_suite
    from agent_graph.report import print_suite_report

    _writable_output("--json", json_out)
    try:
        engine = None
        if brain == "llm":
            from agent_graph.brain.llm.brain import LLMBrain

            engine = LLMBrain.from_environment(provider=provider, base_url=base_url, model=model,
                                               temperature=temperature, timeout=timeout, max_retries=max_retries)
        report = run_suite(directory, brain, progress=lambda p: err.print(f"replaying {p.name}", style="dim"),
                           brain=engine)
    except CaseAgentError as exc:
        raise _fail(str(exc)) from None
    print_suite_report(console, report)
    _write_json(json_out, report)


@command("eval-intents", cls=ManualCommand)
def eval_intents(
    dataset: Annotated[IntentDataset, typer.Option("--dataset", help="Which public intent dataset.")],
    data: Annotated[Path, typer.Option("--data", metavar="PATH", help="The dataset's folder (or its .jsonl.gz file).")],
    shots: Annotated[int | None, typer.Option("--shots", min=1, metavar="N",
                                              help="Keep N training sentences per intent (seeded).")] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the --shots sample.")] = 0,
    json_out: JsonOption = None,
    model: Annotated[list[ModelKind] | None, typer.Option(
        "--model", help="Model kinds the validation grid chooses from (repeat; default: svm and lr).")] = None,
    refit: Annotated[bool, typer.Option("--refit", help=(
        "Fit the chosen setting again on train + validation before the test (thresholds as chosen; not with "
        "--shots)."))] = False,
) -> None:
    """Measure the intent classifier on a public dataset: catalog from train, choices on validation, figures on test."""
    from agent_graph.intent_eval.report import print_intent_report, run_intent_eval

    _writable_output("--json", json_out)
    if not data.exists():
        raise _fail(f"{data}: no such file or folder")
    try:
        report = run_intent_eval(dataset.value, data, shots, seed, models=[m.value for m in model] if model else None,
                                 refit=refit)
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(f"{data}: {exc}") from None
    print_intent_report(console, report)
    _write_json(json_out, report)


@command(cls=ManualCommand)
def bench(
    json_out: JsonOption = None,
    catalog: CatalogOption = None,
    emails: Annotated[int, typer.Option(metavar="N", help="Generated inbound emails for throughput and overhead.")] = 2000,
    scale_large: Annotated[int, typer.Option(metavar="N", help="Cases pre-filled in the large store.")] = 100_000,
    concurrency_emails: Annotated[int, typer.Option(metavar="N", help="Emails for the concurrency figure.")] = 200,
    workers: Annotated[int, typer.Option(metavar="N", help="Cases processed at once.")] = 32,
    delay_ms: Annotated[float, typer.Option(metavar="MS", help="How long the stand-in brain waits per call, in milliseconds.")] = 200,
    db: Annotated[str | None, typer.Option("--db", metavar="URL", help=(
        "A PostgreSQL database of its own (emptied between figures): the scale figure on it, and "
        "throughput with 1, 2 and 4 worker processes sharing it."))] = None,
    emails_per_worker: Annotated[int, typer.Option(metavar="N", help="Emails per worker process (--db).")] = 256,
) -> None:
    """Measure throughput, framework overhead, scale and concurrency; print a table, write JSON."""
    from agent_graph.bench import print_bench_report, run_bench

    _writable_output("--json", json_out)
    _catalog(catalog)
    try:
        report = run_bench(catalog or Path(DEFAULT_CATALOG), emails=emails, scale_large=scale_large,
                           concurrency_emails=concurrency_emails, workers=workers, delay_ms=delay_ms,
                           progress=lambda text: err.print(text, style="dim"), db=db,
                           emails_per_worker=emails_per_worker)
    except (ValueError, CaseAgentError) as exc:
        raise _fail(f"--db: {exc}") from None
    print_bench_report(console, report)
    _write_json(json_out, report, "figures")


@command(cls=ManualCommand)
def demo(
    inbox: Annotated[Path | None, typer.Option(metavar="FOLDER", show_default=False, help="The scripted inbox: recorded threads to play. Default: the project's examples/inbox.")] = None,
    db: Annotated[str, typer.Option("--db", metavar="URL", help="Where the demo store goes (replaced).")] = "sqlite:///demo.db",
) -> None:
    """Play the scripted inbox against a fresh store and show every case's journey."""
    from agent_graph.demo import run_demo

    try:
        ok = run_demo(console, inbox or PROJECT / "examples/inbox", db)
    except CaseAgentError as exc:
        raise _fail(str(exc)) from None
    if not ok:
        raise typer.Exit(code=1)


@command("eval-replies", cls=ManualCommand)
def eval_replies(
    data: Annotated[Path | None, typer.Option("--data", metavar="FILE", show_default=False, help="Labelled replies (JSON Lines: text, label, split). Default: the project's evals/replies/replies.jsonl.")] = None,
    json_out: JsonOption = None,
    misread: Annotated[str | None, typer.Option("--misread", metavar="SPLIT", help="List the misread replies of SPLIT: dev or held.")] = None,
) -> None:
    """Measure the reply classifier (accepts / needs_help / other) on a labelled set, per split."""
    from agent_graph.labelled_set import Split
    from agent_graph.reply_eval import print_reply_report, run_reply_eval

    try:
        show = Split(misread) if misread else None
    except ValueError:
        raise _fail(f"--misread {misread}: the split must be dev or held") from None
    _measure(json_out, lambda: run_reply_eval(data or PROJECT / "evals/replies/replies.jsonl"),
             lambda report: print_reply_report(console, report, show_misread=show))


@command("eval-languages", cls=ManualCommand)
def eval_languages(
    data: Annotated[Path | None, typer.Option("--data", metavar="FILE", show_default=False, help="Labelled lines (JSON Lines: text, lang, too_short, kind, split). Default: the project's evals/languages/lines.jsonl.")] = None,
    json_out: JsonOption = None,
    misses: Annotated[bool, typer.Option("--misses", help="List the wrong answers and the longer lines left unknown.")] = False,
) -> None:
    """Measure language detection on labelled multilingual lines: per language, short and longer, per half; time per line."""
    from agent_graph.language_eval import print_language_report, run_language_eval

    _measure(json_out, lambda: run_language_eval(data or PROJECT / "evals/languages/lines.jsonl"),
             lambda report: print_language_report(console, report, show_misses=misses))


def _measure(json_out: Path | None, run: Callable[[], Report], show: Callable[[Report], None]) -> None:
    """What the commands measuring on a labelled set share: check --json before the run, run, show
    the report, write it."""
    from agent_graph.labelled_set import LabelledSetError

    _writable_output("--json", json_out)
    try:
        report = run()
    except (OSError, LabelledSetError) as exc:
        raise _fail(str(exc)) from None
    show(report)
    _write_json(json_out, report)


@command("console", cls=ManualCommand)
def console_command(
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="The port to serve on.")] = 8080,
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS",
                                      help="The address to serve on; the default serves this machine only.")]
    = "127.0.0.1",
    db: DbOption = DEFAULT_DB,
    catalog: CatalogOption = None,
) -> None:
    """The representatives' web console: inbox, case pages, reviews (users: case-agent users add)."""
    import secrets

    import uvicorn

    from agent_graph.console.app import create_app
    from agent_graph.console.users import count_users

    secret = os.environ.get("CASE_AGENT_CONSOLE_SECRET") or secrets.token_urlsafe(32)
    with _agent(db, catalog, create_store=False) as agent:
        if not count_users(agent.env.store):
            raise _fail(f"no console user in {_shown(db)}: add one first with case-agent users add NAME --db {_shown(db)}")
        if "CASE_AGENT_CONSOLE_SECRET" not in os.environ:
            err.print("sessions last until the console stops (set CASE_AGENT_CONSOLE_SECRET to keep them)")
        err.print(f"console on http://{host}:{port}/ for {_shown(db)}")
        uvicorn.run(create_app(agent, secret), host=host, port=port, log_level="warning")


users_app = typer.Typer(help="The web console's users.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add", cls=ManualCommand)
def users_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's sign-in name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from the first line of stdin "
                                                      "instead of asking for it.")] = False,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a user of the web console (the password is asked for, or read with --password-stdin)."""
    from agent_graph.console.users import UserError, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    store = _store(db, create=True)
    try:
        add_user(store, name, password, SystemClock().now())
    except UserError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"user {name} added to {_shown(db)}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
