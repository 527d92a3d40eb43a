"""lookup_intent: which catalog intent a text is about (read-only)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent_graph.brain.intent import classifier_for
from agent_graph.brain.types import IntentGuess
from agent_graph.context import Services


class LookupIntentArgs(BaseModel):
    text: str = Field(min_length=1, description="customer text to classify")


def lookup_intent(env: Services, args: LookupIntentArgs) -> IntentGuess:
    return classifier_for(env.catalog).predict(args.text)
