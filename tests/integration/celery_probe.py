"""A task that only the worker integration test sends: it proves a real worker ran it, and with which id."""

import os
from pathlib import Path

from celery import shared_task

from config.request_id import get_request_id


@shared_task(ignore_result=True)
def write_probe(path: str) -> None:
    Path(path).write_text(f"{get_request_id()} {os.getpid()}")
