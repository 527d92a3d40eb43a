"""What the bundled sentence embedding would cost the agent per email (docs/intent-eval.md,
"Catalogs keep embedding=0"): the intent prediction of every customer email of ``evals/threads``
(subject and body) with the catalog's classifier, n-grams only against embedding weight 1,
interleaved, as the calling thread's CPU time and wall clock; and the growth of the resident set
when the model is loaded and when the classifier with the embedding is fitted. Run from the
repository root:

    PYTHONPATH=. .venv/bin/python evals/embedding/cost.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from agent_graph.brain import embedding
from agent_graph.brain.intent import IntentClassifier, IntentSettings
from agent_graph.catalog import load_catalog

THREADS = Path("evals/threads")
PASSES = 5


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def main() -> None:
    catalog = load_catalog(THREADS / "catalog.yaml")
    emails = [f"{turn['email'].get('subject', '')}\n{turn['email']['body']}"
              for path in sorted(THREADS.glob("*.json"))
              for turn in json.loads(path.read_text())["turns"] if (turn.get("email") or {}).get("body")]
    plain = IntentClassifier.from_catalog(catalog)
    before = rss_mb()
    embedding.embed(["load the model"])
    loaded = rss_mb()
    embedded = IntentClassifier.from_catalog(catalog, settings=IntentSettings(embedding=1.0))
    fitted = rss_mb()
    classifiers = {"ngrams_only": plain, "embedding_1": embedded}
    cpu: dict[str, list[float]] = {name: [] for name in classifiers}
    wall: dict[str, list[float]] = {name: [] for name in classifiers}
    for clf in classifiers.values():
        clf.predict_many(emails[:5])  # warm-up
    for _ in range(PASSES):
        for text in emails:
            for name, clf in classifiers.items():
                start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                clf.predict(text)
                cpu[name].append((time.thread_time_ns() - start_cpu) / 1e6)
                wall[name].append((time.perf_counter_ns() - start) / 1e6)
    print(json.dumps({
        "emails": len(emails),
        "median_words": statistics.median(len(text.split()) for text in emails),
        "cpu_ms_median": {name: round(statistics.median(v), 3) for name, v in cpu.items()},
        "wall_ms_median": {name: round(statistics.median(v), 3) for name, v in wall.items()},
        "rss_mb": {"before_loading_the_model": round(before, 1), "loading_the_model": round(loaded - before, 1),
                   "fitting_the_classifier_with_it": round(fitted - loaded, 1)},
    }, indent=1))


if __name__ == "__main__":
    main()
