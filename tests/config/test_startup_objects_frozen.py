"""Web and worker processes freeze what start-up created, so full garbage collections stay short."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.split()


def test_loading_the_asgi_application_freezes_what_it_created():
    before, after = _run("import gc; print(gc.get_freeze_count()); import config.asgi; print(gc.get_freeze_count())")
    assert int(before) == 0
    assert int(after) > 10_000  # Django, the apps and their modules: well over this many objects


@pytest.mark.parametrize("signal", ["worker_init", "worker_process_init"])
def test_a_celery_worker_freezes_on_start_and_in_each_pool_process(signal):
    (frozen,) = _run(
        "import gc, django; django.setup()\n"
        "from celery import signals; from config.celery import app\n"
        f"signals.{signal}.send(sender=None)\n"
        "print(gc.get_freeze_count())"
    )
    assert int(frozen) > 10_000
