"""What a brain proposes: typed results shared by the offline engine and a language model."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ReplyKind(StrEnum):
    """How a customer answered a proposed resolution."""

    ACCEPTS = "accepts"
    NEEDS_HELP = "needs_help"
    OTHER = "other"


class IntentGuess(BaseModel):
    """The best intent for a text, or ``intent_id=None`` when none is confident enough."""

    intent_id: str | None
    confidence: float = Field(ge=0.0, le=1.0)
    ranking: list[tuple[str, float]] = Field(default_factory=list, description="top candidates, best first")


class ExtractedValue(BaseModel):
    """One attribute value found in a customer's text, normalised for its type."""

    name: str
    value: str
    span: str = Field(description="the exact substring of the text the value came from")
    extractor: str = Field(description="which extractor found it, e.g. 'pattern', 'date', 'label'")
    confidence: float = Field(ge=0.0, le=1.0)
