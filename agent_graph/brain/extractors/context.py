"""The context of one text: the candidate lists every attribute shares (dates, numbers, amounts,
phones, emails), computed once and only when asked, and how near a keyword stands to a value."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from agent_graph.brain.extractors.base import PROXIMITY_WINDOW, _WORD_RE, _stem, _strip_span
from agent_graph.brain.extractors.contacts import _email_candidates, _phone_candidates
from agent_graph.brain.extractors.dates import _date_candidates, _date_phrases
from agent_graph.brain.extractors.money import _money_candidates
from agent_graph.brain.extractors.numbers import _number_candidates

if TYPE_CHECKING:
    from agent_graph.brain.extractors.base import _Candidate


_SENTENCE_BOUNDARY = re.compile(r"[.!?](?:\s|$)|\n")
_CLAUSE_BOUNDARY = re.compile(r"[,;:]\s")


class _Context:
    def __init__(self, text: str, now: datetime, region: str, own_addresses: Iterable[str]) -> None:
        self.text = text
        self.now = now
        self.region = (region or "US").upper()
        self.own_addresses = frozenset(a.strip().lower() for a in own_addresses)
        self._dates: dict[bool, list[_Candidate]] = {}

    def sub(self, start: int, end: int) -> _Context:
        return _Context(self.text[start:end], self.now, self.region, self.own_addresses)

    @cached_property
    def stem_positions(self) -> dict[str, list[tuple[int, int]]]:
        positions: dict[str, list[tuple[int, int]]] = {}
        for match in _WORD_RE.finditer(self.text):
            positions.setdefault(_stem(match.group()), []).append(match.span())
        return positions

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        spans = []
        for match in re.finditer(r"[^.!?\n]+(?:[.!?]+|$)", self.text, re.MULTILINE):
            start, end = _strip_span(self.text, match.start(), match.end())
            if end > start:
                spans.append((start, end))
        return spans

    @cached_property
    def date_phrases(self) -> list[_Candidate]:
        return _date_phrases(self.text)

    def dates(self, future: bool = False) -> list[_Candidate]:
        if future not in self._dates:
            self._dates[future] = _date_candidates(self, future)
        return self._dates[future]

    @cached_property
    def numbers(self) -> list[_Candidate]:
        return _number_candidates(self)

    @cached_property
    def money(self) -> list[_Candidate]:
        return _money_candidates(self)

    @cached_property
    def phones(self) -> list[_Candidate]:
        return _phone_candidates(self)

    @cached_property
    def emails(self) -> list[_Candidate]:
        return _email_candidates(self)

    def proximity(self, keywords: dict[str, float], start: int, end: int) -> float:
        """0..1: how close the nearest keyword is to text[start:end]. Another sentence halves it, and
        so does another clause when the keyword follows the value: words come before the value they
        introduce ('3 May, back the 20th': 'back' introduces the 20th, not 3 May)."""
        best = 0.0
        for stem, weight in keywords.items():
            for k_start, k_end in self.stem_positions.get(stem, ()):
                if k_start >= start and k_end <= end:
                    continue  # a word of the value itself
                gap = max(0, start - k_end, k_start - end)
                if gap > PROXIMITY_WINDOW:
                    continue
                closeness = 1.0 - gap / PROXIMITY_WINDOW
                between = self.text[min(k_end, end):max(k_start, start)]
                if _SENTENCE_BOUNDARY.search(between) or (k_start >= end and _CLAUSE_BOUNDARY.search(between)):
                    closeness *= 0.5
                best = max(best, weight * closeness)
        return best
