import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_lookup_benchmark_prints_one_json_object_last():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "lookup", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "lookup"
    assert figures["cached_per_s"] > 0 and figures["db_per_s"] > 0


@pytest.mark.integration
def test_ingest_benchmark_loses_no_accepted_webhook():
    """The whole stack (gunicorn, a Celery worker, a throwaway database) for a few seconds: ~1 minute."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "ingest", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    keys = {"webhooks_per_s", "bare_per_s", "ratio", "p50_ms", "p99_ms", "accepted", "processed", "lost"}
    keys |= {"processed_per_s", "processing"}
    assert figures["benchmark"] == "ingest" and keys <= figures.keys()
    assert figures["accepted"] > 0 and figures["bare_per_s"] > 0 and figures["webhooks_per_s"] > 0
    assert figures["lost"] == 0, result.stderr[-4000:]
    # Processing alone: every stored text became a message, every campaign message ended read.
    assert figures["processed_per_s"]["texts"] > 0 and figures["processed_per_s"]["statuses"] > 0
    assert figures["processing"]["texts"]["lost"] == 0
    statuses = figures["processing"]["statuses"]
    assert statuses["ended_read"] == statuses["messages"] and statuses["history_entries"] == 3 * statuses["messages"]


@pytest.mark.integration
def test_an_inbound_webhook_is_processed_within_2_s_while_the_outbox_is_saturated():
    """Real workers as deployed (an inbound and an outbox pool), one provider timing out and one slow: ~1 minute."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "isolation", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "isolation"
    # The outbox was saturated while the webhooks came: its sends were in flight, against both fakes.
    assert figures["outbox_after_3_s"].get("sending", 0) > 0
    assert figures["fake_graph_arrivals"]["timeout"] > 0 and figures["fake_graph_arrivals"]["slow"] > 0
    assert figures["webhooks_processed"] == figures["webhooks_accepted"] > 0
    assert figures["delay_max_s"] <= 2.0, result.stderr[-4000:]


@pytest.mark.integration
def test_campaign_benchmark_imports_every_row_and_sends_none_twice():
    """The web server and the campaigns, outbox and events workers on a 10,000-row CSV: about a minute."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "campaign", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "campaign" and figures["import_status"] == "imported"
    assert figures["rows_read"] == figures["rows"] == 10_000
    assert figures["invalid_rows"] == figures["expected_invalid"]
    assert figures["duplicates"] == figures["expected_duplicates"]
    assert figures["recipients"] == figures["rows"] - figures["invalid_rows"] - figures["duplicates"]
    assert figures["sent"] > 0 and figures["duplicates_sent"] == 0
    assert figures["max_in_any_1s"] <= figures["limit_mps"] and figures["sent_after_cancel"] == 0
