"""Generated from the admin registry: for every registered model, an ISP admin of company A never sees
company B's rows (changelist, search, change, delete and history pages, forms' choices, autocomplete,
raw-id pop-ups, actions), and platform-only models not at all. A model registered later is covered."""

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from companies.admin_scoping import PLATFORM_ONLY, CompanyScopedAdmin, CompanyScopedInline
from companies.models import ApiKey
from config.fields import EncryptedTextField

PROJECT_PACKAGES = {"config", "companies", "templates_meta", "conversations", "notifications", "billing"}
REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
ADMINS = [pytest.param(model, model_admin, id=model._meta.label) for model, model_admin in REGISTRY]
SCOPED = [p for p in ADMINS if p.values[1].company_path is not PLATFORM_ONLY]
PLATFORM = [p for p in ADMINS if p.values[1].company_path is PLATFORM_ONLY]
AUTOCOMPLETE = [
    pytest.param(model, name, id=f"{model._meta.label}.{name}")
    for model, model_admin in REGISTRY
    for name in model_admin.autocomplete_fields
]
RAW_ID = [
    pytest.param(model, name, id=f"{model._meta.label}.{name}")
    for model, model_admin in REGISTRY
    for name in model_admin.raw_id_fields
]
B = "qqbeta"


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=[quote(a) for a in args])


def page(client, path: str, **params):
    response = client.get(path, params)
    return response, response.content.decode()


def secrets_of(row) -> list[str]:
    fields = [f for f in row._meta.concrete_fields if isinstance(f, EncryptedTextField)]
    return [getattr(row, f.name) for f in fields if getattr(row, f.name)]


def may(model_admin, action: str) -> bool:
    return action in model_admin.isp_admin_permissions


@pytest.mark.parametrize(("model", "model_admin"), ADMINS)
def test_every_registered_admin_declares_how_its_rows_reach_a_company(model, model_admin):
    assert isinstance(model_admin, CompanyScopedAdmin)
    if type(model_admin).__module__.split(".")[0] in PROJECT_PACKAGES:
        assert not getattr(model_admin, "made_platform_only", False), (
            f"{type(model_admin).__name__} must derive from CompanyScopedAdmin and declare its company_path"
        )
        for inline in model_admin.inlines:
            assert issubclass(inline, CompanyScopedInline), f"{inline.__name__} must mix in CompanyScopedInline"


@pytest.mark.parametrize(("model", "model_admin"), SCOPED)
def test_staff_see_both_companies_rows(model, model_admin, admin_client, rows_a, rows_b):
    # The rows the next test hides from company A's admin are there, and shown to the platform's staff.
    response, html = page(admin_client, url(model, "changelist"))
    assert response.status_code == 200
    assert url(model, "change", rows_a.of(model).pk) in html
    assert url(model, "change", rows_b.of(model).pk) in html


@pytest.mark.parametrize(("model", "model_admin"), SCOPED)
def test_isp_admin_never_sees_another_company_rows(model, model_admin, isp_client, rows_a, rows_b):
    mine, theirs = rows_a.of(model), rows_b.of(model)
    listed, html = page(isp_client, url(model, "changelist"))
    if not may(model_admin, "view"):
        assert listed.status_code == 403
        assert isp_client.get(url(model, "change", theirs.pk)).status_code in (403, 404)
        assert isp_client.get(url(model, "change", mine.pk)).status_code == 403
        return
    assert listed.status_code == 200
    assert url(model, "change", mine.pk) in html
    assert url(model, "change", theirs.pk) not in html
    assert B not in html  # nor in the filters' choices, the columns or the date hierarchy
    if model_admin.search_fields:
        searched, html = page(isp_client, url(model, "changelist"), q=B)
        assert searched.status_code == 200
        assert url(model, "change", theirs.pk) not in html
        assert list(searched.context["cl"].queryset) == []
    for view in ("change", "delete", "history"):
        assert isp_client.get(url(model, view, theirs.pk)).status_code == 404, view
    shown, html = page(isp_client, url(model, "change", mine.pk))
    assert shown.status_code == 200
    assert B not in html  # the form's choices and the inlines included
    for secret in secrets_of(mine):
        assert secret not in html  # write-only, on read-only pages too
    history, html = page(isp_client, url(model, "history", mine.pk))
    assert history.status_code == 200
    if may(model_admin, "add") and model_admin.has_add_permission(shown.wsgi_request):
        added, html = page(isp_client, url(model, "add"))
        assert added.status_code == 200
        assert B not in html


@pytest.mark.parametrize(("model", "model_admin"), SCOPED)
def test_isp_admin_actions_never_reach_another_company_rows(model, model_admin, isp_client, rows_a, rows_b):
    theirs = rows_b.of(model)
    response = isp_client.get(url(model, "changelist"))
    if response.status_code != 200:
        return  # no view: the previous test showed a 403
    actions = model_admin.get_actions(response.wsgi_request)
    if "delete_selected" in actions:
        isp_client.post(
            url(model, "changelist"), {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"}
        )
        assert model._default_manager.filter(pk=theirs.pk).exists()
    for name, (function, *_rest) in actions.items():
        assert getattr(function, "allowed_permissions", ()), f"{name} is an operator's action, not for members"


@pytest.mark.parametrize(("model", "model_admin"), PLATFORM)
def test_isp_admin_cannot_open_platform_only_models(model, model_admin, isp_client, isp_admin):
    assert isp_client.get(url(model, "changelist")).status_code == 403
    assert isp_client.get(url(model, "add")).status_code == 403
    assert isp_client.get(url(model, "change", isp_admin.user.pk)).status_code in (403, 404)


@pytest.mark.parametrize(("model", "name"), AUTOCOMPLETE)
def test_isp_admin_autocomplete_lists_only_its_company(model, name, isp_client, rows_a, rows_b):
    remote = model._meta.get_field(name).related_model
    params = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": name}
    response = isp_client.get(reverse("admin:autocomplete"), {**params, "term": ""})
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        ids = {row["id"] for row in response.json()["results"]}
        assert str(rows_b.of(remote).pk) not in ids
        assert str(rows_a.of(remote).pk) in ids


@pytest.mark.parametrize(("model", "name"), RAW_ID)
def test_isp_admin_raw_id_popup_lists_only_its_company(model, name, isp_client, rows_a, rows_b):
    remote = model._meta.get_field(name).related_model
    if remote not in admin.site._registry:
        return  # Django offers no lookup for an unregistered model
    response, html = page(isp_client, url(remote, "changelist"), _to_field="id", _popup="1")
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        assert url(remote, "change", rows_b.of(remote).pk) not in html
        assert B not in html


def test_isp_admin_index_counts_and_lists_only_its_company(isp_client, rows_a, rows_b):
    response, html = page(isp_client, reverse("admin:index"))
    assert response.status_code == 200
    assert B not in html
    overview = response.context["overview"]
    assert overview["companies_active"] == 1
    assert overview["channels"]["total"] == 1
    assert overview["api_keys_active"] == ApiKey.objects.filter(company=rows_a.company, revoked_at=None).count() == 1
    listed = {m["object_name"] for app in response.context["app_list"] for m in app["models"]}
    assert {"Company", "Channel", "Message", "Template"} <= listed
    assert not listed & {"PlatformToken", "User", "Group", "PeriodicTask", "WebhookEvent"}
