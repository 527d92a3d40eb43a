"""The service catalog: pydantic models, loading and validation (formats.md §1).

Everything the agent knows about a business comes from here. A catalog that loads is
consistent: ids are unique, templates parse, and templates only use variables and case
fields that exist for the intents they serve.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from agent_graph.errors import CatalogError, CatalogNotFound, TemplateRenderError
from agent_graph.template_engine import (
    TEMPLATE_VARIABLES,
    RenderedEmail,
    field_references,
    render,
    template_variables,
    variables_used,
)

ID_PATTERN = r"^[a-z0-9_]+$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="an ISO 639-1 code: en, es, de, ...")]


class AutomationLevel(StrEnum):
    """How much the agent may do alone in a line of business."""

    FULL = "full"
    CONFIRM = "confirm"
    DISABLED = "disabled"


class AttributeType(StrEnum):
    STRING = "string"
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    NUMBER = "number"
    MONEY = "money"
    ENUM = "enum"
    BOOLEAN = "boolean"


class TemplatePurpose(StrEnum):
    RESOLUTION = "resolution"
    REQUEST_INFO = "request_info"
    FOLLOW_UP = "follow_up"
    ACKNOWLEDGEMENT = "acknowledgement"
    GENERIC = "generic"


class _Strict(BaseModel):
    """Catalog models reject unknown keys so that typos are errors, not silent defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Attribute(_Strict):
    name: Identifier
    description: str = ""
    type: AttributeType = AttributeType.STRING
    pattern: str | None = None
    values: list[str] | None = None
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Extension: other words customers use for an enum value.",
    )
    required: bool = True
    labels: dict[LanguageCode, str] = Field(
        default_factory=dict,
        description="Extension: how emails in a language name the attribute ({es: número de pedido}); "
                    "default its name in words.")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _enum_has_values(self) -> Attribute:
        if self.type is AttributeType.ENUM and not self.values:
            raise ValueError("an enum attribute needs a non-empty 'values' list")
        if self.type is not AttributeType.ENUM and self.values:
            raise ValueError(f"'values' is only allowed for type enum, not {self.type.value}")
        if self.pattern and self.type is not AttributeType.STRING:
            raise ValueError(f"'pattern' is only allowed for type string, not {self.type.value}")
        unknown = set(self.aliases) - set(self.values or [])
        if unknown:
            raise ValueError(f"aliases name values that are not in 'values': {sorted(unknown)}")
        return self

    @property
    def label(self) -> str:
        """Human wording of the attribute name: ``order_number`` -> ``order number``."""
        return self.name.replace("_", " ")


class Resolution(_Strict):
    template: Identifier | None = None
    knowledge: str = ""


GRAPH_REFERENCE = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
HTTP_URL = r"^https?://[^\s/]+\S*$"
DEFAULT_AGENT_TIMEOUT = 30.0
"""Seconds a custom agent may take before the case goes to a representative (``agent.timeout``)."""


class RemoteAgentRef(_Strict):
    """A graph on a LangGraph server, called through ``RemoteGraph``."""

    url: Annotated[str, Field(pattern=HTTP_URL)]
    graph: Annotated[str, Field(min_length=1)]


class CustomAgentRef(_Strict):
    """Extension: the custom agent an intent's resolution is delegated to (formats.md §1, ``agent``):
    exactly one of ``graph``, ``remote``, ``http``, and a ``timeout`` in seconds."""

    graph: Annotated[str | None, Field(pattern=GRAPH_REFERENCE)] = Field(
        default=None, description="package.module:attribute of a LangGraph graph or any Runnable, in process")
    remote: RemoteAgentRef | None = None
    http: Annotated[str | None, Field(pattern=HTTP_URL)] = Field(
        default=None, description="an endpoint answering a JSON POST")
    timeout: float = Field(default=DEFAULT_AGENT_TIMEOUT, gt=0, le=600)
    _folder: Path | None = PrivateAttr(default=None)
    """Where a ``graph`` module is looked for first: the folder of the file that named it."""

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomAgentRef:
        given = [name for name in ("graph", "remote", "http") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"an agent needs exactly one of graph, remote, http (found {given or 'none'})")
        return self

    @property
    def label(self) -> str:
        """How the agent is named on the case timeline."""
        if self.graph is not None:
            return f"graph {self.graph}"
        if self.remote is not None:
            return f"remote {self.remote.graph} at {self.remote.url}"
        return f"http {self.http}"

    def found_in(self, folder: Path | None) -> CustomAgentRef:
        """This reference, with a ``graph`` module looked for in ``folder`` first."""
        self._folder = folder
        return self


class Intent(_Strict):
    id: Identifier
    name: str
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    resolution: Resolution = Field(default_factory=Resolution)
    agent: CustomAgentRef | None = Field(default=None, description="Extension: a custom agent that resolves "
                                                                   "the case (formats.md §1)")

    @model_validator(mode="after")
    def _unique_attribute_names(self) -> Intent:
        _reject_duplicates([a.name for a in self.attributes], "attribute name")
        return self

    @property
    def required_attributes(self) -> list[Attribute]:
        return [a for a in self.attributes if a.required]

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def missing_from(self, fields: Collection[str]) -> list[str]:
        """The required attributes that have no value among ``fields`` (names)."""
        return [a.name for a in self.required_attributes if a.name not in fields]


class Template(_Strict):
    id: Identifier
    intents: list[Identifier] = Field(default_factory=list)
    purpose: TemplatePurpose = TemplatePurpose.GENERIC
    subject: str
    body: str
    language: LanguageCode | None = Field(
        default=None, description="Extension: the language it is written in; default the catalog's default_language.")


class LineOfBusiness(_Strict):
    id: Identifier
    name: str
    automation: AutomationLevel = AutomationLevel.CONFIRM
    queue: str
    addresses: list[str] = Field(
        default_factory=list,
        description="Extension: mailbox addresses whose mail belongs to this LOB before an intent is known.",
    )
    intents: list[Intent] = Field(default_factory=list)
    templates: list[Template] = Field(default_factory=list)


class FollowUp(_Strict):
    after: timedelta
    max_follow_ups: int = Field(default=2, ge=0)
    close_after_last: timedelta

    @field_validator("after", "close_after_last")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive ISO-8601 duration such as P2D")
        return value


DEFAULT_SEND_CONFIDENCE = 0.55
"""Default of ``limits.send_confidence``; how it was chosen (and how to re-check it) is in docs/behaviour.md."""
DEFAULT_SEND_MARGIN = 0.15
"""Default of ``limits.send_margin``; chosen with send_confidence (docs/behaviour.md)."""


class Limits(_Strict):
    max_info_requests: int = Field(default=3, ge=0)
    intent_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    send_confidence: float = Field(
        default=DEFAULT_SEND_CONFIDENCE, ge=0.0, le=1.0,
        description="Extension: under full automation, a resolution for an intent identified with less "
                    "confidence is drafted for review instead of sent.",
    )
    send_margin: float = Field(
        default=DEFAULT_SEND_MARGIN, ge=0.0, le=1.0,
        description="Extension: under full automation, a resolution whose intent was identified less than "
                    "this far ahead of a rival (an intent the same values would resolve too) is drafted for "
                    "review instead of sent.",
    )


_LOGICAL_NAME = r"^[a-z][a-z0-9_]{0,49}$"


class DataverseMapping(_Strict):
    """Extension (``--cases dataverse``, docs/microsoft.md): where a case's values go on a Dataverse
    ``incident``. Column logical names, as the table's definition shows them (a custom column
    carries its solution publisher's prefix, e.g. ``cr5a1_intent``)."""

    intent_column: str | None = Field(default=None, pattern=_LOGICAL_NAME)
    lob_column: str | None = Field(default=None, pattern=_LOGICAL_NAME)
    attributes: dict[Identifier, Annotated[str, Field(pattern=_LOGICAL_NAME)]] = Field(
        default_factory=dict, description="attribute name -> column logical name")
    queues: dict[Identifier, str] = Field(
        default_factory=dict, description="line of business id -> Dataverse queue name (default: the LOB's queue)")


class Catalog(_Strict):
    organisation: str
    mailbox: str
    default_language: LanguageCode = "en"
    languages: list[LanguageCode] = Field(
        default_factory=lambda: ["en"], min_length=1, description="Extension: the languages the organisation answers in; default [default_language].")
    default_region: str = Field(default="US", description="Extension: region for phone numbers without +.")
    default_template: Identifier | None = None
    record_interactions: bool = Field(
        default=True, description="Keep every agent action and representative decision (who, the draft as "
                                  "proposed and as sent, feedback); false keeps only what the case needs, nothing "
                                  "personal (agent_graph/interactions.py).")
    agent_may_override_human_edits: bool = Field(
        default=False, description="Extension: the agent may replace a case field a representative set.")
    disclosure: str | dict[LanguageCode, str] | None = Field(
        default=None, description="Extension: a line the sending tool appends to every email the agent sends "
                                  "(e.g. that an AI drafted it); one text, or one per language.")
    follow_up: FollowUp | None = None
    limits: Limits = Field(default_factory=Limits)
    lines_of_business: list[LineOfBusiness] = Field(min_length=1)
    templates: list[Template] = Field(default_factory=list)
    dataverse: DataverseMapping | None = Field(
        default=None, description="Extension: the Dataverse columns and queues of --cases dataverse.")

    @model_validator(mode="before")
    @classmethod
    def _default_languages(cls, data: Any) -> Any:
        """``default_language`` is read as its ISO 639-1 part ("en-GB" is en); ``languages`` defaults to it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("default_language"), str):
            data["default_language"] = re.split(r"[-_]", data["default_language"], maxsplit=1)[0].lower()
        data.setdefault("languages", [data.get("default_language", "en")])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        _reject_duplicates([lob.id for lob in self.lines_of_business], "line of business id")
        _reject_duplicates([i.id for i in self.intents()], "intent id")
        _reject_duplicates([t.id for t in self.all_templates()], "template id")
        if self.dataverse is not None:
            known = {attribute.name for intent in self.intents() for attribute in intent.attributes}
            unknown = sorted(set(self.dataverse.attributes) - known)
            lobs = sorted(set(self.dataverse.queues) - {lob.id for lob in self.lines_of_business})
            if unknown or lobs:
                raise ValueError("dataverse: " + "; ".join(
                    ([f"attributes: no intent has the attribute(s) {', '.join(unknown)}"] if unknown else [])
                    + ([f"queues: no line of business {', '.join(lobs)}"] if lobs else [])))
        return self

    # --- lookups -------------------------------------------------------------------------
    def intents(self) -> list[Intent]:
        return [intent for lob in self.lines_of_business for intent in lob.intents]

    def intent(self, intent_id: str | None) -> Intent | None:
        return next((i for i in self.intents() if i.id == intent_id), None)

    def lob(self, lob_id: str | None) -> LineOfBusiness | None:
        return next((lob for lob in self.lines_of_business if lob.id == lob_id), None)

    def rivals(self, intent_id: str) -> list[str]:
        """The other intents whose required attributes are all required by this one: whenever this
        intent's resolution can go out, so could theirs, so the values cannot tell them apart."""
        intent = self.intent(intent_id)
        if intent is None:
            return []
        needs = {a.name for a in intent.required_attributes}
        return [other.id for other in self.intents()
                if other.id != intent_id and {a.name for a in other.required_attributes} <= needs]

    def lob_of_intent(self, intent_id: str) -> LineOfBusiness | None:
        return next((lob for lob in self.lines_of_business if any(i.id == intent_id for i in lob.intents)), None)

    def lob_for_address(self, addresses: list[str]) -> LineOfBusiness:
        """The LOB of a case whose intent is not known yet: by the address mailed, else the first."""
        return self.lob_by_address(addresses) or self.lines_of_business[0]

    def lob_by_address(self, addresses: list[str]) -> LineOfBusiness | None:
        """The LOB whose ``addresses`` include one of these; None for mail to no LOB's own address."""
        wanted = {a.strip().lower() for a in addresses}
        return next((lob for lob in self.lines_of_business if wanted & {a.lower() for a in lob.addresses}), None)

    def all_templates(self) -> list[Template]:
        return [t for lob in self.lines_of_business for t in lob.templates] + list(self.templates)

    def template(self, template_id: str | None) -> Template | None:
        return next((t for t in self.all_templates() if t.id == template_id), None)

    def agent_for(self, intent_id: str | None) -> CustomAgentRef | None:
        """The custom agent an intent's resolution is delegated to, if any."""
        intent = self.intent(intent_id)
        return intent.agent if intent is not None else None

    @property
    def has_agents(self) -> bool:
        return any(intent.agent is not None for intent in self.intents())

    def with_agents(self, agents: dict[str, CustomAgentRef]) -> Catalog:
        """This catalog with these intents linked to these custom agents (a suite's scripted agents)."""
        unknown = sorted(set(agents) - {i.id for i in self.intents()})
        if unknown:
            raise CatalogError("<agents>", [("agents", f"unknown intent(s) {unknown}")])
        return self._relinked(lambda intent: agents.get(intent.id, intent.agent))

    def without_agents(self) -> Catalog:
        """This catalog with every intent resolved by its template (the bench measures the case agent
        alone, not the custom agents a catalog links)."""
        return self._relinked(lambda intent: None)

    def _relinked(self, agent_of: Callable[[Intent], CustomAgentRef | None]) -> Catalog:
        lobs = [lob.model_copy(update={"intents": [i.model_copy(update={"agent": agent_of(i)}) for i in lob.intents]})
                for lob in self.lines_of_business]
        return self.model_copy(update={"lines_of_business": lobs})

    def language_of(self, template: Template) -> str:
        """The language ``template`` is written in (its ``language``, else ``default_language``)."""
        return template.language or self.default_language


def _reject_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} '{value}'")
        seen.add(value)


# --- template checks ---------------------------------------------------------------------

def _template_problems(catalog: Catalog) -> list[tuple[str, str]]:
    """(location, problem) for every template that would fail or misbehave when rendered."""
    problems: list[tuple[str, str]] = []
    scopes: list[tuple[str, list[Template], list[Intent]]] = [
        (f"lines_of_business[{n}].templates", lob.templates, lob.intents)
        for n, lob in enumerate(catalog.lines_of_business)
    ]
    scopes.append(("templates", catalog.templates, catalog.intents()))
    for prefix, templates, scope_intents in scopes:
        for t_index, template in enumerate(templates):
            where = f"{prefix}[{t_index}]"
            found_before = len(problems)
            for intent_id in template.intents:
                if catalog.intent(intent_id) is None:
                    problems.append((f"{where}.intents", f"unknown intent '{intent_id}'"))
            for part in ("subject", "body"):
                source = getattr(template, part)
                try:  # finding the variables compiles the template: an unknown filter or test fails here
                    unknown_vars = variables_used(source) - TEMPLATE_VARIABLES
                except TemplateSyntaxError as exc:
                    problems.append((f"{where}.{part}", f"Jinja syntax error on line {exc.lineno}: {exc.message}"))
                    continue
                if unknown_vars:
                    problems.append(
                        (f"{where}.{part}", f"unknown variable(s) {sorted(unknown_vars)}; "
                         f"templates may use {sorted(TEMPLATE_VARIABLES)}")
                    )
                served = [catalog.intent(i) for i in template.intents] or scope_intents
                for field_name in sorted(field_references(source)):
                    lacking = [i.id for i in served if i is not None and i.attribute(field_name) is None]
                    if template.intents and lacking:
                        problems.append(
                            (f"{where}.{part}", f"uses fields.{field_name}, which intent(s) {lacking} do not declare")
                        )
                    elif not template.intents and len(lacking) == len(served):
                        problems.append(
                            (f"{where}.{part}", f"uses fields.{field_name}, which no intent it can serve declares")
                        )
            if len(problems) == found_before:
                problems.extend(_sample_render_problems(catalog, template, where, scope_intents))
    references = [("default_template", catalog.default_template)]
    for n, lob in enumerate(catalog.lines_of_business):
        for i, intent in enumerate(lob.intents):
            references.append((f"lines_of_business[{n}].intents[{i}].resolution.template", intent.resolution.template))
    for where, template_id in references:
        if template_id is not None and catalog.template(template_id) is None:
            problems.append((where, f"unknown template id '{template_id}'"))
    return problems


def _language_problems(catalog: Catalog) -> list[tuple[str, str]]:
    """(location, problem) for languages the catalog names but does not answer in."""
    answered = ", ".join(catalog.languages)
    problems = [(f"languages[{n}]", f"duplicate language '{code}'")
                for n, code in enumerate(catalog.languages) if code in catalog.languages[:n]]
    if catalog.default_language not in catalog.languages:
        problems.append(("default_language", f"'{catalog.default_language}' is not in languages [{answered}]: add it"))
    scopes = [(f"lines_of_business[{n}].templates", lob.templates) for n, lob in enumerate(catalog.lines_of_business)]
    for prefix, templates in [*scopes, ("templates", catalog.templates)]:
        for t_index, template in enumerate(templates):
            if template.language is not None and template.language not in catalog.languages:
                problem = f"'{template.language}' is not in languages [{answered}]: add it, or correct the template"
                problems.append((f"{prefix}[{t_index}].language", problem))
    return problems


def _sample_render_problems(catalog: Catalog, template: Template, where: str,
                            scope_intents: list[Intent]) -> list[tuple[str, str]]:
    """A template that does not render for a sample case (a sandbox violation, an unknown filter,
    a type error) can never be sent: that is a load-time error, not a surprise on a customer's case."""
    served = [i for i in map(catalog.intent, template.intents) if i is not None] or scope_intents
    try:
        render_sample(catalog, template, served)
    except TemplateRenderError as exc:
        return [(where, f"{exc} (a sample case with every field set: it would fail for every case)")]
    return []


_SAMPLE_VALUES = {
    AttributeType.STRING: "SAMPLE-1234", AttributeType.TEXT: "a sample description from the customer",
    AttributeType.EMAIL: "sam.lee@example.com", AttributeType.PHONE: "+15555550100",
    AttributeType.DATE: "2026-03-02", AttributeType.NUMBER: "42", AttributeType.MONEY: "89.99",
    AttributeType.BOOLEAN: "true",
}
"""A value of each attribute type, written as the agent stores case fields."""


def sample_value(attribute: Attribute) -> str:
    return attribute.values[0] if attribute.values else _SAMPLE_VALUES[attribute.type]


@dataclass(frozen=True)
class _SampleCase:
    """The case a template is tried on when the catalog loads (what templates see of a case)."""

    lob: str
    intent: str | None
    number: str = "CAS-000001"
    title: str = "Sample request"
    status: str = "new"
    customer_email: str = "sam.lee@example.com"
    customer_name: str | None = "Sam Lee"


def render_sample(catalog: Catalog, template: Template, served: list[Intent]) -> RenderedEmail:
    """Render a template for the fullest case it can serve; raises TemplateRenderError.

    ``served`` are the intents the template serves (its own list, else its scope's). The sample
    case has the first of them as its intent and a named customer; every attribute of every served
    intent has a sample value of its type (so a field that only some intents declare is there, as
    the catalog check on field references allows); every attribute of the intent is listed as
    missing (a request for information names at least one); ``message`` holds the drafter's words.
    A template that fails on this case fails on every case: it can never be sent."""
    intent = served[0] if served else None
    lob = catalog.lob_of_intent(intent.id) if intent else None
    case = _SampleCase(lob=(lob or catalog.lines_of_business[0]).id, intent=intent.id if intent else None)
    fields = {a.name: sample_value(a) for i in served for a in i.attributes}
    missing = [a.name for a in intent.attributes] if intent and intent.attributes else ["details"]
    knowledge = intent.resolution.knowledge.strip() if intent else ""
    variables = template_variables(catalog, case, intent, fields, missing, knowledge, follow_up_number=1)
    variables["message"] = "We are looking into your request and will write again shortly."
    return render(template, variables)


# --- loading -----------------------------------------------------------------------------

def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def parse_catalog(data: Any, source: str = "<catalog>") -> Catalog:
    """Validate already-parsed YAML data; raise CatalogError naming every problem."""
    if not isinstance(data, dict):
        raise CatalogError(source, [("(top level)", "expected a mapping of catalog keys")])
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(
            source, [(_location(tuple(e["loc"])), _pydantic_message(e)) for e in exc.errors()]
        ) from None
    problems = _language_problems(catalog) + _template_problems(catalog)
    if problems:
        raise CatalogError(source, problems)
    return catalog


def _pydantic_message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling against formats.md)"
    if error["type"] == "missing":
        return "required key is missing"
    return f"{message} (got {_SHORT.repr(error.get('input'))})" if error["type"] != "value_error" else message


_SHORT = reprlib.Repr()
"""Echoes a wrong value in a few dozen characters however large it is."""
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 60, 60, 4, 4, 2


MAX_YAML_NODES = 100_000
"""Most values a catalog may hold once its YAML aliases (``*name``) are expanded. The largest real
catalogs hold a few thousand; a "billion laughs" file of a few hundred bytes expands to billions and
would take gigabytes to validate, so it is refused before anything is built from it."""


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CatalogNotFound(str(path)) from None
    except IsADirectoryError:
        raise CatalogError(str(path), [("(file)", "that is a folder; give the catalog's YAML file")]) from None
    except OSError as exc:
        raise CatalogError(str(path), [("(file)", f"cannot read the file: {exc.strerror}")]) from None
    catalog = parse_catalog(_parse_yaml(_decode(raw, str(path)), str(path)), str(path))
    for intent in catalog.intents():
        if intent.agent is not None:
            intent.agent.found_in(path.resolve().parent)
    return catalog


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CatalogError(source, [(f"byte {exc.start} (line {line})", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                                     "save the file as UTF-8")]) from None


def _parse_yaml(text: str, source: str) -> Any:
    """YAML with the safe loader, refused when its aliases would expand beyond MAX_YAML_NODES."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), source)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise CatalogError(source, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except RecursionError:
        raise CatalogError(source, [("(file)", "nested too deeply to be a catalog")]) from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], source: str) -> int:
    """How many values ``node`` stands for once every alias in it is expanded (an alias is a second
    reference to an already-composed node, so ``sizes`` remembers each node's count)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        mark = node.start_mark
        raise CatalogError(source, [(f"line {mark.line + 1}, column {mark.column + 1}",
                                     "a YAML alias refers to a value that contains it")])
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = node.value if isinstance(node, yaml.SequenceNode) else []
    size = 1
    for child in children:
        size += _expanded_size(child, sizes, open_nodes, source)
        if size > MAX_YAML_NODES:
            raise CatalogError(source, [("(file)", f"its YAML aliases (*name) expand to more than {MAX_YAML_NODES:,} "
                                                   "values; write the repeated parts out instead")])
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size
