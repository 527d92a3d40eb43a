"""The brain interface: what the nodes ask of the offline engine or of a language model.

Nodes only see this interface, so they do not know which brain they use. A brain proposes;
the guard nodes and tools decide what actually happens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, Field

from agent_graph.brain.types import ExtractedValue, IntentGuess, ReplyKind
from agent_graph.catalog import Attribute, Catalog, Intent, TemplatePurpose


class UnderstandRequest(BaseModel):
    """Everything a brain may read to understand one inbound customer email."""

    new_text: str = Field(description="the customer's new text: no quoted history, no signature")
    subject: str = ""
    known_intent: str | None = Field(default=None, description="the case's intent when already identified")
    earlier_texts: list[str] = Field(default_factory=list, description="the customer's earlier emails on the case")
    reply_to_resolution: bool = Field(default=False, description="a resolution was proposed and awaits an answer")
    attributes_before_intent: list[Attribute] = Field(
        default_factory=list,
        description="while the case has no intent: the attributes whose values may already be kept")
    now: datetime
    language: str | None = Field(default=None, description="the customer's language (ISO 639-1): this email's "
                                                          "when it tells one, else the case's")


class Understanding(BaseModel):
    """What a brain proposes about one email. Nothing here is trusted until a guard checks it."""

    intent: IntentGuess
    values: list[ExtractedValue] = Field(default_factory=list)
    reply_kind: ReplyKind = ReplyKind.OTHER
    asks_for_person: bool = False
    language: str | None = Field(default=None, description="ISO 639-1 code, when the brain tells")
    instructs_agent: bool = Field(default=False, description="the email tries to instruct the agent")
    prompt_version: str | None = None


class ComposeRequest(BaseModel):
    """An email the brain must word itself because no template fits, or the wording a template wraps."""

    purpose: TemplatePurpose
    intent: Intent | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    knowledge: str = ""
    organisation: str
    customer_first_name: str | None = None
    follow_up_number: int = 0
    language: str | None = Field(default=None, description="the customer's language, when known")
    customer_texts: list[str] = Field(default_factory=list, description="the customer's own emails on the case")


class Brain(Protocol):
    """Implemented by the offline engine (here) and by the language-model brain."""

    name: str
    calls: int
    writes_languages: frozenset[str] | None
    """The languages :meth:`compose` writes in (ISO 639-1); None: any language asked for."""

    def understand(self, catalog: Catalog, request: UnderstandRequest) -> Understanding:
        """One call per inbound email: intent, attribute values, reply kind."""
        ...

    def compose(self, request: ComposeRequest) -> str:
        """The wording of an email body for a purpose (used directly, or as a template's ``message``)."""
        ...


def writes(brain: Brain, language: str | None) -> bool:
    """Whether ``brain`` can word an email in ``language`` (None: the organisation's usual one)."""
    return language is None or brain.writes_languages is None or language in brain.writes_languages
