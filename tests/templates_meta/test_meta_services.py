"""Submitting, syncing and deleting templates at Meta (a fake Graph API with Meta's real bodies)."""

import json

import pytest
import responses
from responses import matchers

from templates_meta import meta
from templates_meta.graph_api import LIST_FIELDS, TemplateApiError
from templates_meta.models import Template, TemplateStatusChange
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

WABA = "102290129340398"
API = "https://graph.facebook.com/v25.0"
BODY = {"type": "BODY", "text": "Olá {{1}}, sua fatura vence em {{2}}.", "example": {"body_text": [["Maria", "10/03"]]}}


@pytest.fixture
def company(db):
    company = CompanyFactory()
    CloudChannelFactory(company=company, waba_id=WABA, api_version="v25.0")
    return company


@pytest.fixture
def graph():
    with responses.RequestsMock() as rsps:  # a request nothing matches fails the test
        yield rsps


def reply_with(graph, fixture: str, *, url: str, method: str, **kwargs) -> None:
    stored = load_fixture(f"meta_api/{fixture}")
    graph.add(method, url, json=stored["body"], status=stored["http_status"], **kwargs)


def list_both_pages(graph) -> None:
    url = f"{API}/{WABA}/message_templates"
    first = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100"})
    after = matchers.query_param_matcher({"fields": LIST_FIELDS, "limit": "100", "after": "QVFIUm9n"})
    reply_with(graph, "templates_list_page_1.json", url=url, method=responses.GET, match=[first])
    reply_with(graph, "templates_list_page_2.json", url=url, method=responses.GET, match=[after])


def make_template(company, **fields) -> Template:
    defaults = {"waba_id": WABA, "name": "fatura_disponivel", "language": "pt_BR", "components": [BODY]}
    return Template.objects.create(company=company, **{**defaults, **fields})


def history(template: Template) -> list[tuple[str, str, str]]:
    return [(c.status, c.source, c.reason) for c in template.status_changes.order_by("pk")]


# ------------------------------------------------------------------------------ submit


def test_a_draft_is_created_at_meta_and_becomes_pending(company, graph):
    template = make_template(company)
    reply_with(graph, "template_create_success.json", url=f"{API}/{WABA}/message_templates", method=responses.POST)

    meta.submit_template(template=template)

    template.refresh_from_db()
    assert template.status == Template.Status.PENDING
    assert template.meta_template_id == "1085384356478504"
    assert json.loads(graph.calls[0].request.body) == {
        "name": "fatura_disponivel",
        "language": "pt_BR",
        "category": "UTILITY",
        "parameter_format": "positional",
        "components": [BODY],
    }
    assert history(template) == [("PENDING", "submit", "Submitted to Meta")]


def test_an_invalid_template_is_refused_before_calling_meta(company, graph):
    template = make_template(company, name="Fatura Aberta", components=[{"type": "BODY", "text": "{{1}} deve"}])

    with pytest.raises(meta.TemplateInvalid) as caught:
        meta.submit_template(template=template)

    assert set(caught.value.errors) == {"name", "body"}
    assert "The body cannot start with a variable: put some words before it." in caught.value.errors["body"]
    assert "Name: Use only lowercase letters" in caught.value.message
    assert not graph.calls
    assert not template.status_changes.exists()


def test_a_rejected_template_is_edited_at_meta_with_its_components_and_category(company, graph):
    template = make_template(company, status="REJECTED", meta_template_id="1085384356478503", rejection_reason="X")
    graph.add(responses.POST, f"{API}/1085384356478503", json={"success": True})

    meta.submit_template(template=template)

    template.refresh_from_db()
    assert json.loads(graph.calls[0].request.body) == {"components": [BODY], "category": "UTILITY"}
    assert (template.status, template.rejection_reason) == ("PENDING", "")
    assert history(template) == [("PENDING", "submit", "Edited at Meta; in review again")]


def test_an_approved_template_is_edited_without_its_category(company, graph):
    template = make_template(company, status="APPROVED", meta_template_id="1085384356478501")
    graph.add(responses.POST, f"{API}/1085384356478501", json={"success": True})

    meta.submit_template(template=template)

    assert json.loads(graph.calls[0].request.body) == {"components": [BODY]}


def test_a_template_in_review_cannot_be_submitted_again(company, graph):
    template = make_template(company, status="PENDING", meta_template_id="1085384356478502")

    with pytest.raises(meta.TemplateNotSubmittable, match="Meta is still reviewing it"):
        meta.submit_template(template=template)


def test_meta_s_refusal_leaves_the_template_unchanged(company, graph):
    template = make_template(company)
    url = f"{API}/{WABA}/message_templates"
    reply_with(graph, "template_create_duplicate_error.json", url=url, method=responses.POST)

    with pytest.raises(TemplateApiError, match=r"Content in This Language Already Exists .*subcode 2388024"):
        meta.submit_template(template=template)

    template.refresh_from_db()
    assert (template.status, template.meta_template_id) == ("DRAFT", "")
    assert not template.status_changes.exists()


def test_a_company_without_a_cloud_channel_for_the_waba_gets_a_clear_error(db, graph):
    company = CompanyFactory(name="Provedor Sem Cloud")
    EvolutionChannelFactory(company=company)
    template = make_template(company)

    with pytest.raises(meta.NoCloudChannel, match=f"Provedor Sem Cloud has no Cloud API channel with WABA id {WABA}"):
        meta.submit_template(template=template)


# ------------------------------------------------------------------------------ sync


def test_sync_creates_the_templates_meta_lists(company, graph):
    list_both_pages(graph)

    counts = meta.sync_waba(company=company, waba_id=WABA)

    assert counts == {"created": 3, "updated": 0, "deleted": 0}
    rows = {t.name: t for t in Template.objects.filter(company=company)}
    assert rows["fatura_aberta"].status == "APPROVED"
    assert rows["fatura_aberta"].meta_template_id == "1085384356478501"
    assert rows["aviso_contrato"].parameter_format == "NAMED"
    assert rows["promo_fibra"].category == "MARKETING"
    assert rows["promo_fibra"].rejection_reason == "PROMOTIONAL"
    assert rows["promo_fibra"].components[0]["format"] == "IMAGE"
    assert all(t.last_synced_at is not None for t in rows.values())
    assert history(rows["promo_fibra"]) == [("REJECTED", "sync", "PROMOTIONAL")]


def test_sync_updates_existing_rows_matched_by_id_or_by_name_and_language(company, graph):
    by_id = make_template(company, name="old_name_kept", status="PENDING", meta_template_id="1085384356478501")
    by_key = make_template(company, name="aviso_contrato", status="DRAFT")
    same = make_template(
        company,
        name="promo_fibra",
        status="REJECTED",
        category="MARKETING",
        meta_template_id="1085384356478503",
        rejection_reason="PROMOTIONAL",
        components=load_fixture("meta_api/templates_list_page_2.json")["body"]["data"][0]["components"],
    )
    list_both_pages(graph)

    counts = meta.sync_waba(company=company, waba_id=WABA)

    assert counts == {"created": 0, "updated": 2, "deleted": 0}
    by_id.refresh_from_db()
    by_key.refresh_from_db()
    same.refresh_from_db()
    assert (by_id.status, by_id.components[0]["text"]) == ("APPROVED", "Fatura disponível")
    assert (by_key.status, by_key.meta_template_id, by_key.parameter_format) == ("PENDING", "1085384356478502", "NAMED")
    assert history(by_id) == [("APPROVED", "sync", "Changed at Meta")]
    assert history(same) == []  # the status did not change: no history row
    assert same.last_synced_at is not None


def test_sync_marks_templates_missing_at_meta_as_deleted_but_keeps_drafts(company, graph):
    gone = make_template(company, name="apagado_na_meta", status="APPROVED", meta_template_id="999")
    draft = make_template(company, name="rascunho")
    other_waba = make_template(company, name="outra_waba", waba_id="555", status="APPROVED")
    list_both_pages(graph)

    counts = meta.sync_waba(company=company, waba_id=WABA)

    assert counts["deleted"] == 1
    gone.refresh_from_db()
    draft.refresh_from_db()
    other_waba.refresh_from_db()
    assert gone.status == "DELETED"
    assert history(gone) == [("DELETED", "sync", "No longer listed at Meta (deleted there)")]
    assert (draft.status, other_waba.status) == ("DRAFT", "APPROVED")


def test_a_second_sync_changes_nothing(company, graph):
    list_both_pages(graph)
    meta.sync_waba(company=company, waba_id=WABA)
    list_both_pages(graph)

    assert meta.sync_waba(company=company, waba_id=WABA) == {"created": 0, "updated": 0, "deleted": 0}
    assert TemplateStatusChange.objects.count() == 3


def test_a_webhook_reason_is_not_replaced_by_meta_s_bare_code(company, graph):
    promo = make_template(
        company,
        name="promo_fibra",
        status="REJECTED",
        category="MARKETING",
        meta_template_id="1085384356478503",
        rejection_reason="Promotional content in a utility template. Submit it as marketing.",
    )
    list_both_pages(graph)

    meta.sync_waba(company=company, waba_id=WABA)

    promo.refresh_from_db()
    assert promo.rejection_reason.startswith("Promotional content")


def test_a_failed_listing_writes_nothing(company, graph):
    gone = make_template(company, name="ainda_aqui", status="APPROVED", meta_template_id="999")
    url = f"{API}/{WABA}/message_templates"
    reply_with(graph, "templates_list_page_1.json", url=url, method=responses.GET)
    graph.add(responses.GET, url, json={"error": {"message": "Service unavailable", "code": 2}}, status=503)

    with pytest.raises(TemplateApiError) as caught:
        meta.sync_waba(company=company, waba_id=WABA)

    assert caught.value.retryable
    gone.refresh_from_db()
    assert gone.status == "APPROVED"
    assert not Template.objects.filter(name="fatura_aberta").exists()


# ------------------------------------------------------------------------------ delete


def test_delete_at_meta_names_the_language_and_marks_it_deleted(company, graph):
    template = make_template(company, status="APPROVED", meta_template_id="1085384356478501")
    match = matchers.query_param_matcher({"name": "fatura_disponivel", "hsm_id": "1085384356478501"})
    url = f"{API}/{WABA}/message_templates"
    reply_with(graph, "template_delete_success.json", url=url, method=responses.DELETE, match=[match])

    meta.delete_at_meta(template=template)

    template.refresh_from_db()
    assert template.status == "DELETED"
    assert history(template) == [("DELETED", "submit", "Deleted at Meta from the panel")]


def test_a_template_without_meta_id_is_never_deleted_by_name_alone(company, graph):
    template = make_template(company, status="APPROVED")

    with pytest.raises(meta.TemplateNotSubmittable, match="has no Meta template id"):
        meta.delete_at_meta(template=template)

    assert not graph.calls


def test_a_disabled_template_cannot_be_deleted(company, graph):
    template = make_template(company, status="DISABLED", meta_template_id="1")

    with pytest.raises(meta.TemplateNotSubmittable, match="does not allow deleting disabled templates"):
        meta.delete_at_meta(template=template)
