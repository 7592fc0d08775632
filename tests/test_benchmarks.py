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
    assert figures["benchmark"] == "ingest" and keys <= figures.keys()
    assert figures["accepted"] > 0 and figures["bare_per_s"] > 0 and figures["webhooks_per_s"] > 0
    assert figures["lost"] == 0, result.stderr[-4000:]
