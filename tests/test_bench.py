"""The benchmark runs end to end at a small size and reports every figure (no timing is asserted)."""

from __future__ import annotations

import random
import re

import pytest

from agent_graph.bench import generate_conversations, run_bench, sample_pattern
from agent_graph.catalog import load_catalog
from tests.conftest import REPO


def test_pattern_samples_match_their_pattern():
    rng = random.Random(1)
    for pattern in [r"ORD-\d{6}", r"[A-Z]-\d{5}", r"FL\d{8}", r"RB-\d{6}-[A-Z]{2}", r"(SN|PX)-\d{3,5}"]:
        for _ in range(20):
            assert re.fullmatch(pattern, sample_pattern(pattern, rng))


def test_generated_mail_mixes_requests_replies_and_acceptances():
    conversations = generate_conversations(load_catalog(REPO / "examples/catalog.yaml"), 60)
    replies = [c.reply for c in conversations if c.reply]
    assert len(conversations) + len(replies) in (60, 61)  # the last conversation may bring a reply along
    assert any("thank" in r.lower() for r in replies) and any(":" in r for r in replies)
    assert {c.reply is None for c in conversations} == {True, False}


def test_small_bench_reports_every_figure():
    report = run_bench(REPO / "examples/catalog.yaml", emails=20, scale_large=2000, scale_small=100, scale_emails=10,
                       concurrency_emails=8, workers=4, delay_ms=5, suite=None, progress=lambda _: None)
    assert report.emails >= 20 and report.emails_per_s > 0 and report.p95_ms >= report.p50_ms > 0
    assert report.graph_ms_per_email > 0 and report.plain_ms_per_email > 0 and report.overhead_ratio > 0
    assert (report.scale_small_cases, report.scale_large_cases) == (100, 2000) and report.scale_ratio > 0
    assert (report.concurrency_emails, report.concurrency_workers, report.brain_delay_ms) == (8, 4, 5)
    assert report.serial_s > 0 and report.concurrent_s > 0 and report.concurrency_speedup > 0
    assert report.peak_memory_mb > 0 and report.model_calls_per_email == 0  # the offline engine calls no model


def test_small_bench_on_postgresql_adds_worker_processes_and_measures_scale_there(postgres) -> None:
    db = postgres.new_database()
    report = run_bench(REPO / "examples/catalog.yaml", emails=10, scale_large=500, scale_small=50, scale_emails=6,
                       concurrency_emails=4, workers=2, delay_ms=5, suite=None, progress=lambda _: None, db=db,
                       emails_per_worker=6)
    assert report.scale_database == "postgresql" and report.scale_ratio > 0
    assert report.workers_emails_per_s is not None and sorted(report.workers_emails_per_s) == [1, 2, 4]
    assert report.workers_speedup_2 is not None and report.workers_speedup_2 > 0
    assert report.workers_speedup_4 is not None and report.workers_speedup_4 > 0
    with pytest.raises(ValueError, match="holds 24 case"):  # 4 workers × 6: the last figure left them; never emptied unasked
        run_bench(REPO / "examples/catalog.yaml", emails=2, suite=None, progress=lambda _: None, db=db)
