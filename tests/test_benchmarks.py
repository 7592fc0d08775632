import json
import subprocess
import sys
from pathlib import Path

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
