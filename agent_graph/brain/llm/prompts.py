"""The prompts: the prompt files and their version, and the steps' messages built from them
(customer text fenced, the catalog as the model reads it)."""

from __future__ import annotations

import hashlib
import json
import os
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent_graph.brain.base import ComposeRequest, UnderstandRequest
from agent_graph.brain.llm.settings import LLMConfigError
from agent_graph.catalog import Catalog
from agent_graph.handoff import HandoffFacts
from agent_graph.template_engine import MissingDetail, missing_details

PROMPTS_VARIABLE = "CASE_AGENT_PROMPTS"
DEFAULT_PROMPTS = Path(__file__).resolve().parents[3] / "prompts"
PROMPT_FILES = ("understand.system.md", "understand.user.md", "draft.system.md", "draft.user.md",
                "handoff.system.md", "handoff.user.md")

class Prompts(BaseModel):
    """The prompt files of the steps, and their version (recorded on every model answer)."""

    model_config = ConfigDict(frozen=True)

    understand_system: str
    understand_user: str
    draft_system: str
    draft_user: str
    handoff_system: str
    handoff_user: str
    version: str


@lru_cache(maxsize=4)
def load_prompts(directory: Path | None = None) -> Prompts:
    """Read ``prompts/`` (or $CASE_AGENT_PROMPTS). The version is ``prompts/VERSION`` plus a hash of
    the prompt files, so an edited prompt never goes out under an old version."""
    folder = Path(directory or os.environ.get(PROMPTS_VARIABLE) or DEFAULT_PROMPTS)
    try:
        texts = {name: (folder / name).read_text(encoding="utf-8") for name in PROMPT_FILES}
        label = (folder / "VERSION").read_text(encoding="utf-8").strip() if (folder / "VERSION").exists() else "0"
    except OSError as exc:
        raise LLMConfigError(f"cannot read the prompt files in {folder}: {exc}; set {PROMPTS_VARIABLE} to the "
                             f"folder holding {', '.join(PROMPT_FILES)}") from None
    digest = hashlib.sha256("\0".join(texts[name] for name in PROMPT_FILES).encode()).hexdigest()[:10]
    return Prompts(understand_system=texts["understand.system.md"], understand_user=texts["understand.user.md"],
                   draft_system=texts["draft.system.md"], draft_user=texts["draft.user.md"],
                   handoff_system=texts["handoff.system.md"], handoff_user=texts["handoff.user.md"],
                   version=f"{label}+{digest}")


def _fill(template: str, **values: str) -> str:
    """``$name`` substitution: braces and dollars inside customer text are left alone."""
    return string.Template(template).substitute(values)


def _fenced(text: str) -> str:
    """Customer text goes between markers; a text cannot close them early."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("<<<") or stripped.endswith(">>>"):
            line = line.replace("<<<", "<< <").replace(">>>", "> >>")
        out.append(line)
    return "\n".join(out)


def catalog_text(catalog: Catalog) -> str:
    """The catalog as the model reads it. The same for every email of a catalog, so it sits
    early in the prompt and a provider's prompt cache can reuse it."""
    lines: list[str] = []
    for lob in catalog.lines_of_business:
        lines.append(f"## {lob.name} (line of business `{lob.id}`)")
        for intent in lob.intents:
            lines.append(f"- intent `{intent.id}`: {intent.name}. {' '.join(intent.description.split())}".rstrip())
            if intent.examples:
                lines.append("  Examples: " + " | ".join(f'"{e}"' for e in intent.examples[:4]))
            for attribute in intent.attributes:
                facts = [attribute.type.value]
                if attribute.pattern:
                    facts.append(f"pattern {attribute.pattern}")
                if attribute.values:
                    facts.append("one of " + ", ".join(attribute.values))
                if not attribute.required:
                    facts.append("optional")
                description = f": {attribute.description}" if attribute.description else ""
                lines.append(f"  - attribute `{attribute.name}` ({'; '.join(facts)}){description}")
        lines.append("")
    return "\n".join(lines).strip()


def understand_messages(prompts: Prompts, catalog: Catalog, request: UnderstandRequest) -> list[Any]:
    """The messages of the "understand" step for one inbound email."""
    from langchain_core.messages import HumanMessage, SystemMessage

    earlier = "\n-----\n".join(_fenced(t.strip()) for t in request.earlier_texts) or "(none)"
    user = _fill(
        prompts.understand_user,
        organisation=catalog.organisation, catalog=catalog_text(catalog),
        today=request.now.date().isoformat(), known_intent=request.known_intent or "none yet",
        awaiting_answer="yes" if request.reply_to_resolution else "no",
        subject=_fenced(request.subject.strip()), earlier=earlier, new_text=_fenced(request.new_text.strip()),
    )
    return [SystemMessage(prompts.understand_system), HumanMessage(user)]


def draft_messages(prompts: Prompts, request: ComposeRequest) -> list[Any]:
    """The messages of the "compose" step for one email to word."""
    from langchain_core.messages import HumanMessage, SystemMessage

    intent = request.intent
    missing = [_missing_line(detail) for detail in missing_details(intent, request.missing, request.language)]
    user = _fill(
        prompts.draft_user,
        organisation=request.organisation, purpose=request.purpose.value,
        language=request.language or "the organisation's usual language (English if unsure)",
        intent=f"{intent.name}: {' '.join(intent.description.split())}" if intent else "not identified yet",
        follow_up_number=str(request.follow_up_number),
        fields=json.dumps(request.fields, ensure_ascii=False, indent=1, sort_keys=True),
        missing="\n".join(missing) or "(nothing)", knowledge=request.knowledge.strip() or "(none)",
    )
    return [SystemMessage(prompts.draft_system), HumanMessage(user)]


def handoff_messages(prompts: Prompts, facts: HandoffFacts) -> list[Any]:
    """The messages of the "handoff" step: the facts as JSON between markers (the customer's words
    in them are data)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    user = _fill(prompts.handoff_user, case_number=facts.case_number or "none yet",
                 facts=_fenced(json.dumps(facts.model_dump(mode="json"), ensure_ascii=False, indent=1)))
    return [SystemMessage(prompts.handoff_system), HumanMessage(user)]


def _missing_line(detail: MissingDetail) -> str:
    return f"- {detail['label']}" + (f" ({detail['description']})" if detail["description"] else "")
