"""A real browser types into the template editor and sees the WhatsApp preview fill in the examples.

Headless Chromium over the DevTools protocol (``tests.browser``); skipped when Chromium is not installed.
"""

import json

import pytest
from django.urls import reverse

from templates_meta.models import Template
from tests.browser import browser_fixture, open_as_staff  # noqa: F401 (the browser fixture)
from tests.factories import CloudChannelFactory, CompanyFactory

pytestmark = pytest.mark.browser


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
