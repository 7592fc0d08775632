"""Template webhooks update the rows; approved templates become Cloud components or Evolution text."""

import io

import pytest
from django.core.management import call_command

from templates_meta import services
from templates_meta.models import Template, TemplatePurpose
from tests.conftest import load_fixture, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

WABA = "102290129340398"


@pytest.fixture
def company(db):
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id=WABA)
    return company


def _template(company, **fields) -> Template:
    defaults = {
        "waba_id": WABA,
        "name": "fatura",
        "language": "pt_BR",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Fatura de {{1}}", "example": {"header_text": ["março"]}},
            {
                "type": "BODY",
                "text": "Olá {{1}}, sua fatura de {{2}} vence amanhã.",
                "example": {"body_text": [["M", "R$"]]},
            },
            {"type": "FOOTER", "text": "Provedor X"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Pagar com PIX"},
                    {"type": "URL", "text": "Ver fatura", "url": "https://isp.example/f/{{1}}", "example": ["INV1"]},
                ],
            },
        ],
    }
    return Template.objects.create(company=company, **{**defaults, **fields})


def _webhook(client, company, name, capture, **value_overrides):
    payload = load_fixture(f"meta/{name}")
    payload["entry"][0]["id"] = WABA
    payload["entry"][0]["changes"][0]["value"].update(value_overrides)
    with capture(execute=True):
        assert post_meta(client, company, payload).status_code == 200


def test_a_rejection_webhook_updates_the_template_with_meta_s_reason(
    client, company, django_capture_on_commit_callbacks
):
    template = _template(
        company, name="abandoned_cart", language="en", status="PENDING", meta_template_id="1689556908129835"
    )
    _webhook(client, company, "message_template_status_update_rejected.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.status == "REJECTED"
    assert template.rejection_reason.startswith("Your template has parameters placed next to each other")
    change = template.status_changes.get()
    assert (change.status, change.source) == ("REJECTED", "webhook")


def test_approval_is_matched_by_name_and_language_before_meta_gives_an_id(
    client, company, django_capture_on_commit_callbacks
):
    payload = load_fixture("meta/message_template_status_update_approved.json")
    value = payload["entry"][0]["changes"][0]["value"]
    template = _template(
        company, name=value["message_template_name"], language=value["message_template_language"], status="PENDING"
    )
    _webhook(client, company, "message_template_status_update_approved.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.status == "APPROVED"
    assert template.meta_template_id == str(value["message_template_id"])


def test_a_paused_template_stops_being_sent(client, company, django_capture_on_commit_callbacks):
    template = _template(company, meta_template_id="555")
    _webhook(
        client,
        company,
        "message_template_status_update_approved.json",
        django_capture_on_commit_callbacks,
        event="PAUSED",
        message_template_id=555,
        reason="Low quality: many customers blocked it",
        message_template_name="fatura",
        message_template_language="pt_BR",
    )
    template.refresh_from_db()
    assert template.status == "PAUSED"
    assert "Low quality" in template.rejection_reason
    channel = company.channels.get()
    with pytest.raises(services.TemplateNotUsable, match="paused"):
        services.fill_template(
            company=company, channel=channel, name="fatura", language="pt_BR", parameters=["M", "R$"]
        )


def test_quality_and_category_updates(client, company, django_capture_on_commit_callbacks):
    quality = _template(company, name="welcome_template", language="en-US", meta_template_id="806312974732579")
    category = _template(company, name="welcome_template", language="en_US", meta_template_id="278077987957091")
    _webhook(client, company, "message_template_quality_update.json", django_capture_on_commit_callbacks)
    _webhook(client, company, "template_category_update_2.json", django_capture_on_commit_callbacks)
    quality.refresh_from_db()
    category.refresh_from_db()
    assert quality.quality_score == "YELLOW"
    assert category.category == "MARKETING"


def test_cloud_components_are_built_from_the_values(company):
    _template(company)
    channel = company.channels.get()
    content = services.fill_template(
        company=company,
        channel=channel,
        name="fatura",
        language="pt_BR",
        parameters={"header": "março", "body": ["Maria", "R$ 99,90"], "buttons": [None, "INV123"]},
    )
    assert content.components == [
        {"type": "header", "parameters": [{"type": "text", "text": "março"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "R$ 99,90"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "INV123"}]},
    ]
    assert content.rendered_text == (
        "*Fatura de março*\n\nOlá Maria, sua fatura de R$ 99,90 vence amanhã."
        "\n\n_Provedor X_\n\n1 - Pagar com PIX\n2 - Ver fatura"
    )


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (["Maria", "R$"], "The header has a variable"),
        ({"header": "março", "body": ["Maria"]}, "takes 2 values; 1 given"),
        ({"header": "março", "body": ["Maria", "R$"]}, "Button 2 (url) needs a value"),
    ],
)
def test_wrong_values_are_refused_with_the_reason(company, parameters, message):
    _template(company)
    with pytest.raises(services.TemplateNotUsable) as excinfo:
        services.fill_template(
            company=company, channel=company.channels.get(), name="fatura", language="pt_BR", parameters=parameters
        )
    assert message in str(excinfo.value.details)


def test_named_templates_take_values_by_name(company):
    _template(
        company,
        name="boas_vindas",
        parameter_format="NAMED",
        components=[{"type": "BODY", "text": "Olá {{first_name}}, bem-vindo.", "example": {}}],
    )
    content = services.fill_template(
        company=company,
        channel=company.channels.get(),
        name="boas_vindas",
        language="pt_BR",
        parameters={"first_name": "Ana"},
    )
    assert content.components == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]}
    ]


def test_a_template_of_another_waba_is_not_used(company):
    _template(company, waba_id="another-waba")
    with pytest.raises(services.TemplateNotUsable, match="No template"):
        services.fill_template(
            company=company, channel=company.channels.get(), name="fatura", language="pt_BR", parameters=["a", "b"]
        )


def test_an_evolution_notice_uses_the_rendered_text(db):
    company = CompanyFactory()
    channel = EvolutionChannelFactory(company=company)
    _template(company, waba_id="", components=[{"type": "BODY", "text": "Olá {{1}}, tudo certo.", "example": {}}])
    content = services.fill_template(
        company=company, channel=channel, name="fatura", language="pt_BR", parameters=["Zé"]
    )
    assert content.rendered_text == "Olá Zé, tudo certo."


def test_default_drafts_cover_every_purpose_and_follow_the_rules(company):
    out = io.StringIO()
    call_command("create_default_templates", str(company.contract), stdout=out)
    assert "11 draft templates created" in out.getvalue()
    purposes = TemplatePurpose.objects.filter(company=company)
    assert set(purposes.values_list("purpose", flat=True)) == set(TemplatePurpose.Purpose.values)
    assert all(p.template is not None for p in purposes)
    for template in Template.objects.filter(company=company):
        assert template.status == "DRAFT" and template.waba_id == WABA
        errors = services.rules.validate(
            name=template.name,
            category=template.category,
            parameter_format=template.parameter_format,
            components=template.components,
        )
        assert errors == {}, (template.name, errors)
    block = Template.objects.get(company=company, name="contrato_block")
    assert "pelo telefone {{2}}" in block.component("BODY")["text"]
    call_command("create_default_templates", str(company.contract), stdout=out)  # idempotent
    assert Template.objects.filter(company=company).count() == 11


def test_the_hourly_sync_visits_every_active_waba_and_survives_a_failing_one(company, monkeypatch):
    from templates_meta import meta, tasks

    other = CompanyFactory()
    CloudChannelFactory(company=other, waba_id="broken-waba")
    CloudChannelFactory(company=CompanyFactory(status="inactive"), waba_id="inactive-waba")
    visited = []

    def fake_sync(*, company, waba_id):
        visited.append(waba_id)
        if waba_id == "broken-waba":
            raise RuntimeError("Meta is down")
        return {"created": 0, "updated": 0, "deleted": 0}

    monkeypatch.setattr(meta, "sync_waba", fake_sync)
    assert tasks.sync_all_templates() == 1
    assert sorted(visited) == sorted([WABA, "broken-waba"])


def test_the_data_migration_gives_existing_companies_the_same_drafts(company):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("templates_meta.migrations.0002_default_drafts")
    migration.create_drafts(apps, None)  # the real models stand in for the historical ones
    templates = Template.objects.filter(company=company)
    assert templates.count() == 11
    assert set(templates.values_list("waba_id", flat=True)) == {WABA}
    assert all(p.template is not None for p in TemplatePurpose.objects.filter(company=company))
    migration.create_drafts(apps, None)  # run again: nothing doubled
    assert templates.count() == 11
