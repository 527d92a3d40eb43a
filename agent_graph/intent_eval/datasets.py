"""The public intent datasets: loaders, the DSTC11 split and the ``--shots`` sample.

Formats (see shared/datasets/*/README.md): JSON Lines, optionally gzip, one object per line with
at least ``text``, ``intent`` and ``split``; CLINC150 marks out-of-scope queries ``"intent": "oos"``.
A path may be a dataset's folder (its ``*.jsonl.gz`` is read) or the file itself.
"""

from __future__ import annotations

import gzip
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_graph.intent_eval.choices import IntentDataset

OOS = "oos"

Example = tuple[str, str]  # (text, intent)
Splits = dict[str, list[Example]]

DSTC11_SPLIT_SEED = 0
DSTC11_FRACTIONS = (0.6, 0.2, 0.2)  # train, val, test per (domain, intent)


# --- loaders -------------------------------------------------------------------------------------

def _data_file(path: str | Path, stem: str) -> Path:
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob(f"{stem}*.jsonl.gz")) + sorted(path.glob(f"{stem}*.jsonl"))
        candidates = candidates or sorted(path.glob("*.jsonl.gz")) + sorted(path.glob("*.jsonl"))
        if not candidates:
            raise FileNotFoundError(f"no {stem}*.jsonl(.gz) in {path}")
        return candidates[0]
    return path


class DatasetRow(BaseModel):
    """One line of a dataset file (other keys, such as BANKING77's ``official_split``, are ignored)."""

    model_config = ConfigDict(frozen=True)

    text: str
    intent: str
    split: str
    domain: str | None = None  # CLINC150 and DSTC11


def _rows(file: Path) -> Iterator[DatasetRow]:
    with (gzip.open(file, "rt", encoding="utf-8") if file.suffix == ".gz"
          else file.open(encoding="utf-8")) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield DatasetRow.model_validate_json(line)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the line'}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"{file}, line {number}: not a dataset row ({problems})") from None


def _load_splits(path: str | Path, stem: str) -> Splits:
    splits: Splits = defaultdict(list)
    for row in _rows(_data_file(path, stem)):
        splits[row.split].append((row.text, row.intent))
    return dict(splits)


def load_clinc150(path: str | Path) -> Splits:
    """``{"train"|"val"|"test": [(text, intent), ...]}``; out-of-scope rows have intent ``"oos"``."""
    return _load_splits(path, "clinc150")


def load_banking77(path: str | Path) -> Splits:
    """``{"train"|"val"|"test": [(text, intent), ...]}`` (val: 10 % of the source's train)."""
    return _load_splits(path, "banking77")


def by_intent(examples: Iterable[Example], *, skip: str | None = OOS) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, intent in examples:
        if intent != skip:
            grouped[intent].append(text)
    return dict(sorted(grouped.items()))


def few_shot(examples: Sequence[Example], shots: int, *, seed: int = 0, skip: str | None = OOS) -> list[Example]:
    """``shots`` examples per intent, drawn reproducibly."""
    rng = random.Random(seed)
    out: list[Example] = []
    for intent, texts in by_intent(examples, skip=skip).items():
        out.extend((t, intent) for t in rng.sample(texts, min(shots, len(texts))))
    return out


@dataclass
class Task:
    """One catalog's worth of data: its train, validation and test rows."""

    name: str
    train: list[Example]
    val: list[Example]
    test: list[Example]


def load_dstc11(path: str | Path, *, seed: int = DSTC11_SPLIT_SEED,
                fractions: tuple[float, float, float] = DSTC11_FRACTIONS) -> dict[str, Splits]:
    """Domain -> ``{"train"|"val"|"test": [(text, intent), ...]}``, split per intent (see module doc).

    Rows of an intent are shuffled with a generator seeded by ``seed``, the domain and the intent,
    then cut: ``round(val * n)`` (at least 1) to val, as many to test by ``test``, the rest to train.
    """
    rows: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    file = _data_file(path, "dstc11")
    for row in _rows(file):
        if row.domain is None:
            raise ValueError(f"{file}: a row without a domain ({row.text!r}); DSTC11 rows name theirs")
        rows[row.domain][row.intent].append(row.text)
    out: dict[str, Splits] = {}
    for domain in sorted(rows):
        splits: Splits = {"train": [], "val": [], "test": []}
        for intent in sorted(rows[domain]):
            texts = list(rows[domain][intent])
            random.Random(f"{seed}:{domain}:{intent}").shuffle(texts)
            n = len(texts)
            n_val = max(1, round(fractions[1] * n))
            n_test = max(1, round(fractions[2] * n))
            if n - n_val - n_test < 1:
                raise ValueError(f"dstc11 {domain}/{intent}: {n} rows are too few to split")
            splits["val"].extend((t, intent) for t in texts[:n_val])
            splits["test"].extend((t, intent) for t in texts[n_val:n_val + n_test])
            splits["train"].extend((t, intent) for t in texts[n_val + n_test:])
        out[domain] = splits
    return out


def load_tasks(dataset: IntentDataset, data: Path) -> list[Task]:
    """The dataset's catalogs' worth of rows: one task, or one per DSTC11 domain."""
    match dataset:
        case IntentDataset.CLINC150:
            s = load_clinc150(data)
        case IntentDataset.BANKING77:
            s = load_banking77(data)
        case IntentDataset.DSTC11:
            return [Task(domain, s["train"], s["val"], s["test"]) for domain, s in load_dstc11(data).items()]
    return [Task(dataset.value, s["train"], s["val"], s["test"])]


def sample_shots(train: Sequence[Example], shots: int | None, seed: int) -> list[Example]:
    """``shots`` sentences per intent (seeded); out-of-scope rows are kept whole."""
    if not shots:
        return list(train)
    return few_shot(train, shots, seed=seed) + [e for e in train if e[1] == OOS]
