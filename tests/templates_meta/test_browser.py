"""A real browser types into the template editor and sees the WhatsApp preview fill in the examples.

Headless Chromium is driven through the Chrome DevTools protocol over a websocket on 127.0.0.1, with
the ``websockets`` package uvicorn[standard] already installs (no Selenium, no driver binary). The test
skips when Chromium is not installed; ``.ci/run`` installs it.
"""

import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from templates_meta.models import Template
from tests.factories import CloudChannelFactory, CompanyFactory

pytestmark = pytest.mark.browser

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
# Nothing but the page under test: no updates, sync, metrics or first-run pages reaching the internet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
TIMEOUT = 20.0


class DevTools:
    """The few Chrome DevTools protocol calls the test needs, over one page's websocket."""

    def __init__(self, websocket: Any) -> None:
        self._ws = websocket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=TIMEOUT))
            if message.get("id") == call_id:
                assert "error" not in message, message["error"]
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            assert time.monotonic() < deadline, f"no {method} within {TIMEOUT}s"
            self.events.append(json.loads(self._ws.recv(timeout=TIMEOUT)))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_until(self, expression: str, expected: Any) -> Any:
        deadline, value = time.monotonic() + TIMEOUT, None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value == expected:
                return value
            time.sleep(0.05)
        return value


@pytest.fixture
def browser(tmp_path: Path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it for CI")
    client = pytest.importorskip("websockets.sync.client", reason="needs the websockets package (uvicorn[standard])")
    profile = tmp_path / "profile"
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert process.poll() is None, "Chromium exited at start-up"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        with client.connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=TIMEOUT) as websocket:
            yield DevTools(websocket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def navigate(browser: DevTools, url: str) -> None:
    browser.events.clear()
    browser.call("Page.navigate", url=url)
    browser.wait_for_event("Page.loadEventFired")


def open_as_staff(browser: DevTools, live_server, path: str) -> None:
    """Logs in with force_login and hands the session cookie to the browser, then opens ``path``."""
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("browser", password="unused-in-this-test"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.call("Page.enable")
    browser.call("Network.enable")
    browser.call("Network.setCookie", name=settings.SESSION_COOKIE_NAME, value=session, url=live_server.url)
    navigate(browser, f"{live_server.url}{path}")
    assert browser.evaluate("location.pathname") == path, "the session cookie was not accepted"


def test_typing_a_body_shows_it_in_the_preview_with_the_example_values(browser, live_server, transactional_db):
    company = CompanyFactory()
    CloudChannelFactory(company=company, waba_id="102290129340398")
    template = Template.objects.create(
        company=company,
        waba_id="102290129340398",
        name="fatura_disponivel",
        components=[{"type": "BODY", "text": "Olá {{1}}, tudo bem?", "example": {"body_text": [["Ana"]]}}],
    )
    open_as_staff(browser, live_server, reverse("admin:templates_meta_template_change", args=[template.pk]))
    body = "document.querySelector('[data-tm-body]').textContent"
    assert browser.wait_until(body, "Olá Ana, tudo bem?") == "Olá Ana, tudo bem?"  # rendered on load

    typed = [
        {"type": "HEADER", "format": "TEXT", "text": "Fatura de {{1}}", "example": {"header_text": ["março"]}},
        {
            "type": "BODY",
            "text": "Olá {{1}}, sua fatura de *{{2}}* vence em {{3}}.",
            "example": {"body_text": [["Maria", "R$ 99,90", "10/03"]]},
        },
        {"type": "FOOTER", "text": "Provedor X"},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Pagar com PIX"}]},
    ]
    browser.evaluate("const box = document.getElementById('id_components'); box.focus(); box.select(); true")
    browser.call("Input.insertText", text=json.dumps(typed, ensure_ascii=False, indent=2))

    expected = "Olá Maria, sua fatura de R$ 99,90 vence em 10/03."
    assert browser.wait_until(body, expected) == expected
    assert browser.evaluate("document.querySelector('[data-tm-body] strong').textContent") == "R$ 99,90"
    assert browser.evaluate("document.querySelector('[data-tm-header]').textContent") == "Fatura de março"
    assert browser.evaluate("document.querySelector('[data-tm-footer]').textContent") == "Provedor X"
    assert browser.evaluate("document.querySelector('[data-tm-buttons]').textContent") == "↩ Pagar com PIX"
    assert browser.evaluate("document.querySelector('[data-tm-status]').textContent").startswith("✓ Valid JSON")

    browser.call("Input.insertText", text="oops")  # the selection is gone: this appends garbage to the JSON
    status = browser.wait_until("document.querySelector('[data-tm-status]').className", "tm-status tm-bad")
    assert status == "tm-status tm-bad"
    assert "Not valid JSON" in browser.evaluate("document.querySelector('[data-tm-status]').textContent")
    assert browser.evaluate(body) == expected  # the preview keeps the last valid version


def test_a_helper_button_fills_missing_examples(browser, live_server, transactional_db):
    company = CompanyFactory()
    CloudChannelFactory(company=company, waba_id="102290129340398")
    template = Template.objects.create(
        company=company,
        waba_id="102290129340398",
        name="aviso",
        components=[{"type": "BODY", "text": "Olá {{1}}, seu contrato foi {{2}}."}],
    )
    open_as_staff(browser, live_server, reverse("admin:templates_meta_template_change", args=[template.pk]))
    missing = "document.querySelectorAll('[data-tm-body] .tm-missing').length"
    assert browser.wait_until(missing, 2) == 2

    browser.evaluate("document.querySelector('[data-tm-action=examples]').click(); true")

    body = "document.querySelector('[data-tm-body]').textContent"
    assert browser.wait_until(body, "Olá example 1, seu contrato foi example 2.") == (
        "Olá example 1, seu contrato foi example 2."
    )
    components = json.loads(browser.evaluate("document.getElementById('id_components').value"))
    assert components[0]["example"] == {"body_text": [["example 1", "example 2"]]}
