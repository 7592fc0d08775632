"""The template panel: pages render, the editor checks Meta's rules, and the actions talk to a fake Meta."""

import json

import pytest
import responses
from django.urls import reverse
from responses import matchers

from templates_meta.graph_api import LIST_FIELDS
from templates_meta.models import Template, TemplatePurpose, TemplateStatusChange
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory, CompanyFactory

WABA = "102290129340398"
API = "https://graph.facebook.com/v25.0"
TOKEN = "EAAGadmintoken0000000000000000042"
BODY = {"type": "BODY", "text": "Olá {{1}}, sua fatura vence em {{2}}.", "example": {"body_text": [["Maria", "10/03"]]}}
CHANGELIST = reverse("admin:templates_meta_template_changelist")


@pytest.fixture
def company(db):
    company = CompanyFactory(name="Provedor Norte")
    CloudChannelFactory(company=company, waba_id=WABA, api_version="v25.0", access_token=TOKEN)
    return company


@pytest.fixture
def graph():
    with responses.RequestsMock() as rsps:  # a request nothing matches fails the test
        yield rsps


def reply_with(graph, fixture: str, *, url: str, method: str, **kwargs) -> None:
    stored = load_fixture(f"meta_api/{fixture}")
    graph.add(method, url, json=stored["body"], status=stored["http_status"], **kwargs)


def make_template(company, **fields) -> Template:
    defaults = {"waba_id": WABA, "name": "fatura_disponivel", "language": "pt_BR", "components": [BODY]}
    return Template.objects.create(company=company, **{**defaults, **fields})


def change_url(template: Template) -> str:
    return reverse("admin:templates_meta_template_change", args=[template.pk])


def form_data(company, *, components, **overrides) -> dict:
    data = {
        "company": company.pk,
        "waba_id": "",
        "name": "fatura_disponivel",
        "language": "pt_BR",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": components if isinstance(components, str) else json.dumps(components),
        "status_changes-TOTAL_FORMS": 0,
        "status_changes-INITIAL_FORMS": 0,
        "status_changes-MIN_NUM_FORMS": 0,
        "status_changes-MAX_NUM_FORMS": 1000,
    }
    return {**data, **overrides}


def run_action(client, action: str, templates, **extra):
    data = {"action": action, "_selected_action": [t.pk for t in templates], **extra}
    return client.post(CHANGELIST, data, follow=True)


# ------------------------------------------------------------------------------ pages


def test_the_list_shows_status_and_quality_badges_and_filters(admin_client, company, django_assert_max_num_queries):
    make_template(company, status="APPROVED", quality_score="GREEN", name="fatura_aberta")
    make_template(company, status="PAUSED", quality_score="RED", name="promo", category="MARKETING", language="es")
    for n in range(8):
        make_template(CompanyFactory(), waba_id=f"55{n}", name=f"rascunho_{n}")

    with django_assert_max_num_queries(12):
        response = admin_client.get(CHANGELIST)

    page = response.content.decode()
    assert response.status_code == 200
    assert '<span class="pill pill-ok" title="">Approved</span>' in page
    assert '<span class="pill pill-bad" title="">Paused (low quality)</span>' in page
    assert '<span class="pill pill-bad">Low</span>' in page
    assert "Sync from Meta" in page
    for parameter in ("company__id__exact=", "status__exact=PAUSED", "category__exact=MARKETING", "language=es"):
        assert parameter in page


def test_search_finds_templates_by_name(admin_client, company):
    make_template(company, name="fatura_aberta")
    make_template(company, name="aviso_contrato")

    response = admin_client.get(CHANGELIST, {"q": "aviso"})

    assert [t.name for t in response.context["cl"].result_list] == ["aviso_contrato"]


def test_the_add_page_has_the_editor_with_its_preview(admin_client, company):
    response = admin_client.get(reverse("admin:templates_meta_template_add"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "data-tm-editor" in page
    assert "data-tm-preview" in page
    assert "templates_meta/editor.js" in page
    assert "templates_meta/editor.css" in page
    assert 'name="_submit_to_meta"' in page


def test_the_change_page_shows_the_components_indented_and_the_history(admin_client, company):
    template = make_template(company, status="REJECTED", rejection_reason="PROMOTIONAL")
    TemplateStatusChange.objects.create(template=template, status="REJECTED", reason="PROMOTIONAL", source="webhook")

    page = admin_client.get(change_url(template)).content.decode()

    assert "\n    &quot;type&quot;: &quot;BODY&quot;" in page  # indented, one key a line (PostgreSQL reorders keys)
    assert "Status history" in page
    assert "PROMOTIONAL: The content is promotional" in page
    assert "Rejected by Meta" in page


def test_a_paused_template_says_it_is_not_sent_and_why(admin_client, company):
    template = make_template(company, status="PAUSED", meta_template_id="1", rejection_reason="FIRST_PAUSE")
    TemplatePurpose.objects.create(company=company, purpose="billing_notice", template=template)

    page = admin_client.get(change_url(template)).content.decode()

    assert "Paused: not used for sending" in page
    assert "Reason: FIRST_PAUSE: First pause for low quality (3 hours)." in page
    assert "Notices for Billing notice are not sent with it meanwhile." in page


def test_a_disabled_template_says_to_create_a_new_one(admin_client, company):
    template = make_template(company, status="DISABLED", meta_template_id="1")

    page = admin_client.get(change_url(template)).content.decode()

    assert "Disabled: not used for sending" in page
    assert "create a new template with another name" in page


def test_an_approved_template_has_no_banner(admin_client, company):
    template = make_template(company, status="APPROVED", meta_template_id="1")

    assert "data-tm-banner" not in admin_client.get(change_url(template)).content.decode()


# ------------------------------------------------------------------------------ validation


def test_saving_shows_each_rule_message_on_the_components_field(admin_client, company):
    components = [{"type": "BODY", "text": "{{1}} sua fatura vence em {{3}}"}, {"type": "FOOTER", "text": "x" * 61}]

    response = admin_client.post(
        reverse("admin:templates_meta_template_add"), form_data(company, components=components)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["components"]
    assert "Body: The body cannot start with a variable: put some words before it." in errors
    assert "Body: Variables must be numbered from {{1}} without gaps; found {{1}}, {{3}}." in errors
    assert "Footer: The footer has 61 characters; the limit is 60." in errors
    assert "The body cannot start with a variable" in response.content.decode()
    assert not Template.objects.exists()


def test_a_bad_name_is_shown_on_the_name_field(admin_client, company):
    response = admin_client.post(
        reverse("admin:templates_meta_template_add"), form_data(company, components=[BODY], name="Fatura Nova")
    )

    assert response.context["adminform"].form.errors["name"] == [
        "Use only lowercase letters, digits and underscores (e.g. fatura_disponivel)."
    ]


def test_broken_json_says_where(admin_client, company):
    response = admin_client.post(
        reverse("admin:templates_meta_template_add"), form_data(company, components='[\n  {"type": "BODY",}\n]')
    )

    [error] = response.context["adminform"].form.errors["components"]
    assert error.startswith("This is not valid JSON: ")  # then Python's words, which vary by version
    assert "(line 2, column " in error
    # what was typed is kept, for fixing
    assert "{&quot;type&quot;: &quot;BODY&quot;,}" in response.content.decode()


def test_a_valid_template_is_saved_with_the_company_s_waba(admin_client, company):
    response = admin_client.post(reverse("admin:templates_meta_template_add"), form_data(company, components=[BODY]))

    assert response.status_code == 302
    template = Template.objects.get()
    assert (template.waba_id, template.status, template.components) == (WABA, "DRAFT", [BODY])


def test_a_waba_of_another_company_is_refused(admin_client, company):
    response = admin_client.post(
        reverse("admin:templates_meta_template_add"), form_data(company, components=[BODY], waba_id="999")
    )

    assert response.context["adminform"].form.errors["waba_id"] == [
        f"This is not a WABA of Provedor Norte's Cloud API channels ({WABA})."
    ]


def test_a_template_meta_knows_keeps_its_name_and_its_approved_category(admin_client, company):
    template = make_template(company, status="APPROVED", meta_template_id="1085384356478501")
    edited = {**BODY, "text": "Oi {{1}}, sua fatura vence em {{2}}."}
    data = form_data(company, components=[edited], name="renamed", category="MARKETING")

    response = admin_client.post(change_url(template), data)

    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.category, template.components) == ("fatura_disponivel", "UTILITY", [edited])


def test_a_company_without_a_cloud_channel_can_keep_drafts_without_a_waba(admin_client, db):
    evolution_only = CompanyFactory()

    response = admin_client.post(
        reverse("admin:templates_meta_template_add"), form_data(evolution_only, components=[BODY])
    )

    assert response.status_code == 302
    assert Template.objects.get().waba_id == ""


# ------------------------------------------------------------------------------ actions


def test_save_and_submit_creates_the_template_at_meta(admin_client, company, graph):
    reply_with(graph, "template_create_success.json", url=f"{API}/{WABA}/message_templates", method=responses.POST)
    data = form_data(company, components=[BODY], _submit_to_meta="Save and submit to Meta")

    response = admin_client.post(reverse("admin:templates_meta_template_add"), data, follow=True)

    template = Template.objects.get()
    assert (template.status, template.meta_template_id) == ("PENDING", "1085384356478504")
    assert "was submitted to Meta (Pending review)" in response.content.decode()


def test_the_submit_action_reports_meta_s_refusal_in_words(admin_client, company, graph):
    template = make_template(company)
    url = f"{API}/{WABA}/message_templates"
    reply_with(graph, "template_create_duplicate_error.json", url=url, method=responses.POST)

    response = run_action(admin_client, "submit_to_meta", [template])

    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "Template fatura_disponivel (pt_BR) was not submitted. Meta refused the template: Content in This Language"
        in page
    )
    assert "(error 100, subcode 2388024)" in page
    assert "Traceback" not in page
    template.refresh_from_db()
    assert template.status == "DRAFT"


def test_the_submit_action_lists_the_rules_a_template_breaks(admin_client, company, graph):
    template = make_template(company, components=[{"type": "BODY", "text": "Olá {{1}}, tudo bem?"}])

    page = run_action(admin_client, "submit_to_meta", [template]).content.decode()

    assert "was not submitted. The template breaks Meta&#x27;s rules. Body: Give an example for every" in page
    assert not graph.calls


def test_an_expired_token_is_reported_without_the_token(admin_client, company, graph):
    template = make_template(company)
    error = {"error": {"message": f"Error validating access token {TOKEN}", "code": 190, "type": "OAuthException"}}
    graph.add(responses.POST, f"{API}/{WABA}/message_templates", json=error, status=401)

    page = run_action(admin_client, "submit_to_meta", [template]).content.decode()

    assert "(error 190)" in page
    assert "Check the channel&#x27;s access token" in page
    assert TOKEN not in page


def test_the_sync_action_imports_the_waba_s_templates(admin_client, company, graph):
    template = make_template(company, name="rascunho")
    url = f"{API}/{WABA}/message_templates"
    first = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100"})
    after = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100", "after": "QVFIUm9n"})
    reply_with(graph, "templates_list_page_1.json", url=url, method=responses.GET, match=[first])
    reply_with(graph, "templates_list_page_2.json", url=url, method=responses.GET, match=[after])

    page = run_action(admin_client, "sync_from_meta", [template]).content.decode()

    assert f"WABA {WABA} (Provedor Norte) synced from Meta: 3 new, 0 updated, 0 marked deleted." in page
    assert Template.objects.filter(company=company).count() == 4


def test_the_sync_page_lists_the_wabas_and_syncs_one(admin_client, company, graph):
    url = f"{API}/{WABA}/message_templates"
    graph.add(responses.GET, url, json={"data": [], "paging": {"cursors": {}}})
    sync_url = reverse("admin:templates_meta_template_sync")

    listing = admin_client.get(sync_url).content.decode()
    response = admin_client.post(sync_url, {"waba": f"{company.pk}:{WABA}"}, follow=True)

    assert WABA in listing
    assert "Provedor Norte" in listing
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "synced from Meta: 0 new, 0 updated, 0 marked deleted." in response.content.decode()


def test_delete_at_meta_asks_first_then_deletes_that_language(admin_client, company, graph):
    template = make_template(company, status="APPROVED", meta_template_id="1085384356478501")
    match = matchers.query_param_matcher({"name": "fatura_disponivel", "hsm_id": "1085384356478501"})
    url = f"{API}/{WABA}/message_templates"
    reply_with(graph, "template_delete_success.json", url=url, method=responses.DELETE, match=[match])

    confirmation = run_action(admin_client, "delete_at_meta", [template])
    assert "Delete these templates at Meta?" in confirmation.content.decode()
    assert not graph.calls

    page = run_action(admin_client, "delete_at_meta", [template], confirmed="yes").content.decode()

    assert "Template fatura_disponivel (pt_BR) was deleted at Meta." in page
    template.refresh_from_db()
    assert template.status == "DELETED"


def test_delete_at_meta_of_a_draft_explains_itself(admin_client, company, graph):
    template = make_template(company)

    page = run_action(admin_client, "delete_at_meta", [template], confirmed="yes").content.decode()

    assert "Template fatura_disponivel (pt_BR) was not deleted at Meta. This template has no Meta template id" in page


# ------------------------------------------------------------------------------ purposes


def test_a_purpose_offers_only_approved_templates_of_its_company(admin_client, company):
    approved = make_template(company, name="fatura_aprovada", status="APPROVED")
    make_template(company, name="fatura_rascunho")
    other = CompanyFactory()
    make_template(other, name="de_outra_empresa", waba_id="777", status="APPROVED")
    purpose = TemplatePurpose.objects.create(company=company, purpose="billing_notice")

    response = admin_client.get(reverse("admin:templates_meta_templatepurpose_change", args=[purpose.pk]))

    choices = list(response.context["adminform"].form.fields["template"].queryset)
    assert choices == [approved]


def test_a_purpose_with_a_paused_template_says_it_is_not_sent(admin_client, company):
    paused = make_template(company, status="PAUSED")
    TemplatePurpose.objects.create(company=company, purpose="billing_notice", template=paused)

    page = admin_client.get(reverse("admin:templates_meta_templatepurpose_changelist")).content.decode()

    assert "Paused (low quality): not sent" in page


def test_a_purpose_needs_as_many_parameters_as_body_variables(admin_client, company):
    approved = make_template(company, status="APPROVED")
    data = {"company": company.pk, "purpose": "billing_notice", "template": approved.pk, "parameters": '["{nome}"]'}

    response = admin_client.post(reverse("admin:templates_meta_templatepurpose_add"), data)

    assert response.context["adminform"].form.errors["parameters"] == [
        "The template's body has 2 variable(s); give 2 value(s)."
    ]
