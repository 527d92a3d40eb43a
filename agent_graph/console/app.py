"""The representatives' web console: inbox, case pages, reviews, feedback (``case-agent console``).

Server-rendered pages (Starlette, Jinja2, a little htmx served from the package: no build step,
no CDN, works offline). Every page but the login needs a signed-in user (``case-agent users add``);
every form carries the session's CSRF token and a POST without it is refused (403). The session is a
signed cookie (``SameSite=Strict``, HttpOnly) holding the user's name and the CSRF token.

The console changes cases through the agent's own paths: a review answer is
:meth:`CaseAgent.answer_review` (the CLI's and Agent Inbox's path, exactly once when two people
answer at the same time), field edits, take-over and feedback are ``console/actions.py``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_graph.console import actions
from agent_graph.console.inbox import InboxFilter, inbox_rows
from agent_graph.console.throttle import SignInThrottle
from agent_graph.console.users import authenticate
from agent_graph.domain import Action, CaseStatus
from agent_graph.errors import CaseAgentError
from agent_graph.handoff import HandoffSummary
from agent_graph.interactions import InteractionKind
from agent_graph.review import human_response
from agent_graph.service import CaseAgent
from agent_graph.state import ReviewKind
from agent_graph.store import Case, Interaction
from agent_graph.timeline import case_timeline
from agent_graph.usage_report import build_report, render_html

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
FLASH = "flash"
"""What the last change did, shown once by the page it leads to (kept in the session, not the URL)."""
SESSION_HOURS = 12

Handler = Callable[[Request], Awaitable[Response]]


class Console:
    """The routes, on one agent (its store, catalog and clock)."""

    def __init__(self, agent: CaseAgent, throttle: SignInThrottle | None = None):
        self.agent = agent
        self.env = agent.env
        self.throttle = throttle or SignInThrottle()
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.globals["statuses"] = list(CaseStatus)
        self.templates.env.globals["ignore_reasons"] = list(actions.IgnoreReason)
        self.templates.env.filters["when"] = _when

    def render(self, request: Request, name: str, status_code: int = 200, headers: dict[str, str] | None = None,
               **values: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, {
            "user": request.session.get("user"), "csrf": _csrf_token(request), **values}, status_code=status_code,
            headers=headers)

    # --- signing in ----------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        return self.render(request, "login.html", next=_local(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        form = await _checked_form(request)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        address = request.client.host if request.client else "unknown"
        wait = self.throttle.wait_seconds(name, address)
        if wait:
            log.warning("console: sign-in for %r from %s refused: too many failures", name[:100], address)
            minutes = -(-wait // 60)
            return self.render(request, "login.html", status_code=429, next=_local(form.get("next")),
                               error=f"Too many failed sign-ins. Try again in {minutes} minute"
                                     f"{'s' if minutes > 1 else ''}.", headers={"Retry-After": str(wait)})
        user = await run_in_threadpool(authenticate, self.env.store, name, password)
        if user is None:
            self.throttle.failed(name, address)
            log.warning("console: failed sign-in for %r from %s", name[:100], address)
            return self.render(request, "login.html", status_code=401, next=_local(form.get("next")),
                               error="Wrong name or password.")
        request.session.clear()  # a new session: nothing of the anonymous one carries over
        request.session["user"] = user.name
        return RedirectResponse(_local(form.get("next")), status_code=303)

    async def logout(self, request: Request) -> Response:
        await _checked_form(request)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # --- pages -------------------------------------------------------------------------------------
    async def inbox(self, request: Request) -> Response:
        try:
            chosen = InboxFilter.model_validate({k: v for k, v in request.query_params.items() if v})
        except ValidationError as exc:
            raise HTTPException(400, f"bad filter: {exc.errors()[0]['msg']}") from None

        def read() -> dict[str, Any]:
            store = self.env.store
            return {"rows": inbox_rows(store, chosen, self.env.clock.now()), "counts": store.count_cases_by_status(),
                    "lobs": [lob.id for lob in self.env.catalog.lines_of_business],
                    "intents": [i.id for i in self.env.catalog.intents()], "languages": self.env.catalog.languages}

        return self.render(request, "inbox.html", chosen=chosen, **await run_in_threadpool(read))

    async def report(self, request: Request) -> Response:
        """The managers' usage report (``case-agent report --html``) of every case, as of now."""
        built = await run_in_threadpool(build_report, self.env.store, self.env.clock.now())
        return HTMLResponse(render_html(built))

    async def case_page(self, request: Request) -> Response:
        case = self._case(request)
        return self.render(request, "case.html", **await run_in_threadpool(self._case_view, case),
                           message=request.session.pop(FLASH, None))

    def _case_view(self, case: Case) -> dict[str, Any]:
        store, catalog = self.env.store, self.env.catalog
        intent = catalog.intent(case.intent)
        fields = store.current_fields(case.id)
        drafts = store.pending_drafts(case.id)
        pending = self.agent.pending_review(case.id)
        history = store.interactions(case.id)
        routes = ([i for i in history if i.kind == InteractionKind.ROUTED]
                  or [i for i in history if i.kind == Action.ROUTE_TO_REP])  # a case routed before hand-offs
        return {
            "case": case, "intent": intent, "fields": fields, "timeline": case_timeline(store, case.id),
            "editable": actions.editable_fields(self.env, case),
            "missing": intent.missing_from(fields) if intent else [],
            "pending": pending, "draft": drafts[-1] if drafts and pending else None,
            "template": catalog.template(drafts[-1].template_id) if drafts and pending else None,
            "handoff": _handoff(routes[-1]) if routes and case.status == CaseStatus.WITH_REPRESENTATIVE else None,
        }

    # --- changes ----------------------------------------------------------------------------------
    async def review(self, request: Request) -> Response:
        form = await _checked_form(request)
        case = self._case(request)
        user = request.session["user"]
        try:
            kind = ReviewKind(str(form.get("decision", "")))
            reason = actions.IgnoreReason(str(form.get("reason") or "other")) if kind is ReviewKind.IGNORE else None
        except ValueError:
            raise HTTPException(400, "choose accept, edit, response or ignore (with a reason from the list)") from None

        def answer() -> str:
            pending = self.agent.pending_review(case.id)
            if pending is None:
                raise actions.ConsoleActionError(f"{case.number} has no draft waiting for review: "
                                                 f"it was answered meanwhile")
            response = human_response(pending, kind, subject=_field(form, "subject"), body=_field(form, "body"),
                                      text=_field(form, "text"), reviewer=user,
                                      reason_code=reason.value if reason else None, comment=_field(form, "comment"))
            result = self.agent.answer_review(case.id, [response])
            return f"{kind.value}: {result.outcome.note or result.outcome.action or 'done'}"

        return await self._changed(request, case, answer)

    async def edit_field(self, request: Request) -> Response:
        form = await _checked_form(request)
        case = self._case(request)
        name, value = str(form.get("name", "")), str(form.get("value", ""))

        def edit() -> str:
            actions.edit_field(self.env, case, request.session["user"], name, value)
            return f"{name} saved"

        return await self._changed(request, case, edit)

    async def take_over(self, request: Request) -> Response:
        await _checked_form(request)
        case = self._case(request)

        def take() -> str:
            actions.take_over(self.env, case, request.session["user"])
            return "you own the case now: the agent answers nothing until you hand it back"

        return await self._changed(request, case, take)

    async def hand_back(self, request: Request) -> Response:
        await _checked_form(request)
        case = self._case(request)

        def give_back() -> str:
            back = actions.hand_back(self.env, case, request.session["user"])
            return f"the agent answers the case again (status {back.status})"

        return await self._changed(request, case, give_back)

    async def feedback(self, request: Request) -> Response:
        form = await _checked_form(request)
        case = self._case(request)
        try:
            given = actions.Feedback(target=str(form.get("target", "")), useful=form.get("useful") == "yes",
                                     comment=str(form.get("comment", "")))
        except ValidationError as exc:
            raise HTTPException(400, f"feedback: {exc.errors()[0]['msg']}") from None
        if not await run_in_threadpool(actions.belongs_to, self.env.store, case, given):
            raise HTTPException(404, f"{case.number} has no {given.target}")
        await run_in_threadpool(actions.give_feedback, self.env, case, request.session["user"], given)
        if request.headers.get("hx-request"):  # htmx swaps the form for the thank-you
            return self.render(request, "feedback_done.html", feedback=given)
        request.session[FLASH] = "feedback recorded"
        return RedirectResponse(f"/cases/{case.number}", status_code=303)

    async def _changed(self, request: Request, case: Case, change: Callable[[], str]) -> Response:
        """Run a change in a worker thread, then back to the case page with what it did (or why not: 409)."""
        try:
            message = await run_in_threadpool(change)
        except (CaseAgentError, ValueError) as exc:  # the agent says ValueError for a draft answered meanwhile
            return self.render(request, "case.html", status_code=409, error=str(exc),
                               **await run_in_threadpool(self._case_view, self.env.store.case(case.id)))
        request.session[FLASH] = message
        return RedirectResponse(f"/cases/{case.number}", status_code=303)

    def _case(self, request: Request) -> Case:
        case = self.env.store.case_by_number(request.path_params["number"])
        if case is None:
            raise HTTPException(404, f"no case {request.path_params['number'][:40]}")
        return case


def _handoff(routed: Interaction) -> tuple[str, str | None]:
    """The hand-off summary of a routing (its interaction's ``handoff``) and who worded it, else what the
    interaction says (a case routed before hand-off summaries)."""
    stored = routed.detail.get("handoff")
    if not stored:
        return routed.summary, None
    summary = HandoffSummary.model_validate(stored)
    return summary.text, summary.provenance


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return None if value is None else str(value).replace("\r\n", "\n")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _local(target: Any) -> str:
    """Where to go after signing in: a path of this site only (no ``//host``, no scheme)."""
    text = str(target or "")
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


def _csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(token)


async def _checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token (form field or htmx header) is the session's; else 403."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    expected = str(request.session.get(CSRF_FIELD) or "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "the form's security token is missing or stale: reload the page and try again")
    return form


def _signed_in(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if not request.session.get("user"):
            if request.method != "GET":
                raise HTTPException(401, "sign in first")
            return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
        return await handler(request)
    return guarded


SECURITY_HEADERS = [
    # Only this site's scripts (the vendored htmx) run; styles are inline in the pages. No framing (clickjacking),
    # forms post here only, no MIME sniffing, no case number in another site's Referer.
    (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(agent: CaseAgent, secret: str) -> Starlette:
    """The console on ``agent``; ``secret`` signs the session cookies (sessions end when it changes)."""
    console = Console(agent)
    routes = [
        Route("/login", console.login_page, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", _signed_in(console.logout), methods=["POST"]),
        Route("/", _signed_in(console.inbox), methods=["GET"]),
        Route("/report", _signed_in(console.report), methods=["GET"]),
        Route("/cases/{number}", _signed_in(console.case_page), methods=["GET"]),
        Route("/cases/{number}/review", _signed_in(console.review), methods=["POST"]),
        Route("/cases/{number}/fields", _signed_in(console.edit_field), methods=["POST"]),
        Route("/cases/{number}/take-over", _signed_in(console.take_over), methods=["POST"]),
        Route("/cases/{number}/hand-back", _signed_in(console.hand_back), methods=["POST"]),
        Route("/cases/{number}/feedback", _signed_in(console.feedback), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(SessionMiddleware, secret_key=secret, session_cookie="case_agent_console",
                             max_age=SESSION_HOURS * 3600, same_site="strict", https_only=False)]
    return Starlette(routes=routes, middleware=middleware)

