"""The Jinja2 environment every template renders in: parsing, compiling, rendering, and the
variables a template sees.

A leaf module (it imports nothing of agent_graph but errors), so that the catalog can check its
templates when it loads and ``templates`` can choose and fill them, without either importing the
other. Templates are configuration, not code: they render in Jinja2's sandbox with
``StrictUndefined``, so a template that refers to something the case lacks fails loudly before
anything is sent instead of leaving a blank in a customer's email.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from agent_graph.errors import TemplateRenderError, bounded

if TYPE_CHECKING:
    from agent_graph.catalog import Catalog, Intent

TEMPLATE_VARIABLES = frozenset(
    {"case", "customer", "fields", "missing", "knowledge", "organisation", "mailbox", "message", "intent",
     "follow_up_number"}
)
"""The variables a template may use (formats.md §1)."""


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def parse_template(source: str) -> nodes.Template:
    """Parse template source; raises jinja2.TemplateSyntaxError."""
    return environment().parse(source)


@lru_cache(maxsize=1024)
def compiled(source: str) -> JinjaTemplate:
    """Templates are compiled once per process, not per email."""
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def variables_used(source: str) -> frozenset[str]:
    """The variables a template's source refers to; raises jinja2.TemplateSyntaxError."""
    return frozenset(meta.find_undeclared_variables(parse_template(source)))


def field_references(source: str) -> set[str]:
    """Names used as ``fields.NAME`` or ``fields['NAME']`` in a template."""
    names: set[str] = set()
    for node in parse_template(source).find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node, nodes.Getattr | nodes.Getitem) and isinstance(node.node, nodes.Name)
                and node.node.name == "fields"):
            continue
        if isinstance(node, nodes.Getattr):
            names.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.add(node.arg.value)
    return names


class TemplateText(Protocol):
    """What rendering needs of a catalog template."""

    @property
    def id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...


class RenderedEmail(BaseModel):
    subject: str
    body: str
    template_id: str | None


def render(template: TemplateText, variables: dict[str, Any]) -> RenderedEmail:
    """Render subject and body. Whatever fails (an undefined value, a sandbox violation, an unknown
    filter, a type error in an expression) is a TemplateRenderError: a template is configuration,
    so anything it raises is the template's fault and must stop the email, not the agent."""
    try:
        subject = compiled(template.subject).render(variables)
        body = compiled(template.body).render(variables)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
        raise TemplateRenderError(f"template '{template.id}' cannot be rendered for this case: {bounded(reason)}") from exc
    subject = " ".join(subject.split())
    if not subject or not body.strip():
        raise TemplateRenderError(f"template '{template.id}' rendered an empty subject or body")
    return RenderedEmail(subject=subject, body=body.strip() + "\n", template_id=template.id)


# --- the variables a template sees --------------------------------------------------------------

class CaseView(Protocol):
    """What a template may know of a case (a stored case, or the catalog check's sample)."""

    @property
    def number(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def lob(self) -> str: ...
    @property
    def intent(self) -> str | None: ...
    @property
    def customer_email(self) -> str: ...
    @property
    def customer_name(self) -> str | None: ...


class MissingDetail(TypedDict):
    """One missing attribute as templates, the built-in wording and the model's prompt name it."""

    name: str
    label: str
    description: str


def missing_details(intent: Intent | None, names: list[str], language: str | None = None) -> list[MissingDetail]:
    """The missing attributes ``names`` of ``intent``, each with its label (in ``language`` when the
    catalog gives one) and description (an attribute the intent does not declare, or no intent, gets
    its name in words)."""
    details: list[MissingDetail] = []
    for name in names:
        attribute = intent.attribute(name) if intent else None
        label = (attribute.labels.get(language or "", attribute.label) if attribute else name.replace("_", " "))
        details.append({"name": name, "label": label,
                        "description": attribute.description if attribute else ""})
    return details


def template_variables(catalog: Catalog, case: CaseView, intent: Intent | None, fields: dict[str, str],
                       missing: list[str], knowledge: str, follow_up_number: int,
                       language: str | None = None) -> dict[str, Any]:
    """The variables a template is rendered with for a case (formats.md §1 lists them)."""
    customer: dict[str, str] = {"email": case.customer_email}
    if case.customer_name:
        customer["name"] = case.customer_name
        customer["first_name"] = first_name(case.customer_name) or case.customer_name
    return {
        "case": {"number": case.number, "title": case.title or "your request", "status": case.status,
                 "lob": case.lob, "intent": case.intent},
        "customer": customer,
        "fields": fields,
        "missing": missing_details(intent, missing, language),
        "knowledge": knowledge,
        "organisation": catalog.organisation,
        "mailbox": catalog.mailbox,
        "intent": {"id": intent.id, "name": intent.name} if intent else {"id": None, "name": "request"},
        "follow_up_number": follow_up_number,
    }


def first_name(full_name: str | None) -> str | None:
    if not full_name:
        return None
    name = full_name.strip().strip('"')
    if "," in name:  # "Whitfield, Dana"
        name = name.split(",", 1)[1].strip()
    parts = name.split()
    return parts[0] if parts else None
