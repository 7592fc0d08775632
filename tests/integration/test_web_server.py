"""The web servers the project ships, started as it starts them, apply X-Forwarded-For only when trusted.

uvicorn runs with the command line ``runall`` builds, gunicorn with the image's ``CMD`` (read from the
Dockerfile). Each answers ``/echo`` (``tests.integration.echo_urls``): the address and scheme Django saw.
The four servers start together, once for the module.
"""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.test import override_settings

from config.management.commands import runall

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

FORWARDED = {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _uvicorn(port: int) -> list[str]:
    commands = runall.children(python=sys.executable, host="127.0.0.1", port=port, base="", fakes=False)
    return commands["web"]


def _gunicorn(port: int) -> list[str]:
    [cmd] = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD [")]
    program, *args = json.loads(cmd.removeprefix("CMD "))
    assert program == "gunicorn" and "0.0.0.0:8000" in args
    return [sys.executable, "-m", "gunicorn", *[f"127.0.0.1:{port}" if a == "0.0.0.0:8000" else a for a in args]]


@pytest.fixture(scope="module")
def servers():
    """``{(server, trusted): base URL}`` for uvicorn and gunicorn, each with and without TRUST_X_FORWARDED_FOR."""
    started, processes = {}, []
    for server, command_for in (("uvicorn", _uvicorn), ("gunicorn", _gunicorn)):
        for trusted in (False, True):
            port = _free_port()
            with override_settings(TRUST_X_FORWARDED_FOR=trusted):  # runall builds the command from them
                command = command_for(port)
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "tests.integration.echo_settings",
                "TRUST_X_FORWARDED_FOR": str(trusted).lower(),
                "API_RATE_LIMIT_PER_IP": "3/m",
                "CACHE_KEY_PREFIX": f"test-web-{uuid.uuid4().hex[:8]}",
                "WEB_CONCURRENCY": "1",
            }
            env.pop("FORWARDED_ALLOW_IPS", None)
            process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            processes.append(process)
            started[(server, trusted)] = (f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        for (server, trusted), (base, process) in started.items():
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{server} (trusted={trusted}) exited: {process.stderr.read()[-3000:]}")
                try:
                    requests.get(f"{base}/echo", timeout=1)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{server} (trusted={trusted}) did not answer within 60 s")
                    time.sleep(0.1)
        yield {key: base for key, (base, _) in started.items()}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stderr.close()


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_an_untrusted_forwarded_for_leaves_the_peer_address_and_scheme(servers, server):
    seen = requests.get(f"{servers[(server, False)]}/echo", headers=FORWARDED, timeout=5).json()
    assert seen == {"remote_addr": "127.0.0.1", "client_ip": "127.0.0.1", "secure": False}


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_a_trusted_forwarded_for_is_the_client_address(servers, server):
    seen = requests.get(f"{servers[(server, True)]}/echo", headers=FORWARDED, timeout=5).json()
    assert seen == {"remote_addr": "1.2.3.4", "client_ip": "1.2.3.4", "secure": True}


def test_a_new_forwarded_for_on_each_request_does_not_escape_the_ip_limit(servers):
    # The probe's attack: each guess claims another address. The limit (3/m here) counts the peer.
    base = servers[("uvicorn", False)]
    statuses = [
        requests.get(f"{base}/api/v1/me", headers={"X-Forwarded-For": f"10.0.0.{i}"}, timeout=5).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_ip_limit(servers):
    base = servers[("uvicorn", True)]
    statuses = [
        requests.get(f"{base}/api/v1/me", headers={"X-Forwarded-For": f"10.0.0.{i}"}, timeout=5).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 401]
