"""Compare language detectors on the labelled lines (how py3langid was chosen; README "Languages").

    pip install lingua-language-detector      # not a dependency of the project
    python evals/languages/compare_detectors.py

Each candidate runs in a fresh process so that its memory is its own: the model's load time, the
resident memory it adds (on top of numpy, which the agent loads anyway), the time per line once
loaded, and the lines read right — the detector's first answer on the raw text, short lines
(``too_short``) and longer lines apart — then, with the same text clean-up as the agent
(``language_text``), the strictest probability that still reads every longer ``dev`` line right,
and what that rule gives on the ``held`` half (wrong-language answers, longer lines read right).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).with_name("lines.jsonl")
CANDIDATES = ("py3langid", "py3langid-all", "lingua-high", "lingua-low", "lingua-all-high", "lingua-all-low")
THRESHOLDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def _detector(name: str) -> Callable[[str], tuple[str | None, float]]:
    from agent_graph.brain.language import DETECTED_LANGUAGES

    if name.startswith("lingua"):
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        if "all" in name:
            builder = LanguageDetectorBuilder.from_all_languages()
        else:
            codes = [getattr(IsoCode639_1, "NB" if c == "no" else c.upper()) for c in DETECTED_LANGUAGES]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        if "low" in name:
            builder = builder.with_low_accuracy_mode()
        lingua = builder.with_preloaded_language_models().build()

        def detect(text: str) -> tuple[str | None, float]:
            values = lingua.compute_language_confidence_values(text)
            if not values or values[0].value <= 0:
                return None, 0.0
            code = values[0].language.iso_code_639_1.name.lower()
            return ("no" if code == "nb" else code), values[0].value
        return detect
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if "all" not in name:
        identifier.set_languages(list(DETECTED_LANGUAGES))

    def classify(text: str) -> tuple[str | None, float]:
        code, probability = identifier.classify(text)
        return str(code), float(probability)
    return classify


def measure(name: str) -> dict:
    """One candidate's figures (run in its own process)."""
    import numpy  # noqa: F401 - loaded by the agent anyway; not counted against the detector

    from agent_graph.brain.language import MIN_WORDS, language_text

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    before, started = _rss_mb(), time.perf_counter()
    detect = _detector(name)
    detect("warm up")
    load = time.perf_counter() - started
    started = time.perf_counter()
    raw = [detect(row["text"])[0] for row in rows]
    per_line = (time.perf_counter() - started) / len(rows)
    rss = _rss_mb() - before
    cleaned = [language_text(row["text"]) for row in rows]
    scored = [detect(text) if len(text.split()) >= MIN_WORDS else (None, 0.0) for text in cleaned]

    def rule(split: str, threshold: float) -> tuple[int, int, int]:
        wrong = right = longer = 0
        for row, (code, probability) in zip(rows, scored):
            if row["split"] != split:
                continue
            answer = code if probability >= threshold else None
            wrong += answer is not None and answer != row["lang"]
            if not row["too_short"] and row["lang"]:
                longer += 1
                right += answer == row["lang"]
        return wrong, right, longer

    chosen = max((t for t in THRESHOLDS if rule("dev", t)[1] == rule("dev", 0.0)[1]), default=0.0)
    figures = {"load_s": load, "rss_mb": rss, "us_per_line": 1e6 * per_line, "threshold": chosen}
    for length in ("short", "longer"):
        picked = [(row, code) for row, code in zip(rows, raw)
                  if row["lang"] and row["too_short"] == (length == "short")]
        figures[f"raw_{length}"] = f"{sum(code == row['lang'] for row, code in picked)}/{len(picked)}"
    wrong, right, longer = rule("held", chosen)
    figures["held_wrong"], figures["held_longer"] = wrong, f"{right}/{longer}"
    return figures


def main() -> None:
    if len(sys.argv) == 2:
        print(json.dumps(measure(sys.argv[1])))
        return
    print("| detector | load | RSS added | per line | raw: short lines | raw: longer lines "
          "| dev-chosen probability | held: wrong language | held: longer lines |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in CANDIDATES:
        run = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=False)
        if run.returncode:
            print(f"| {name} | failed: {run.stderr.strip().splitlines()[-1]} |")
            continue
        f = json.loads(run.stdout)
        print(f"| {name} | {f['load_s']:.2f} s | {f['rss_mb']:.0f} MB | {f['us_per_line']:.0f} µs | {f['raw_short']} "
              f"| {f['raw_longer']} | {f['threshold']} | {f['held_wrong']} | {f['held_longer']} |")


if __name__ == "__main__":
    main()
