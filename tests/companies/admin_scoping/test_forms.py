"""What an ISP admin posts stays in its company: fixed company fields, choices of its own rows only,
the platform's fields and actions out of reach; and how an admin that is not scoped is caught."""

import pytest
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from companies.admin_scoping import CompanyScopedAdmin
from companies.models import Channel, Company
from config.admin_site import PonteAdminSite
from conversations.models import Contact, Tag
from templates_meta.models import Template, TemplatePurpose
from tests.factories import CloudChannelFactory


def test_a_channel_added_by_an_isp_admin_is_its_company_whatever_is_posted(isp_client, company_a, company_b):
    data = {"company": company_b.pk, "kind": "console", "name": "Suporte", "throughput_mps": 80, "send_delay_ms": 0}
    response = isp_client.post(reverse("admin:companies_channel_add"), {**data, "api_version": "v25.0"})
    assert response.status_code == 302, response.content.decode()
    assert Channel.objects.get(name="Suporte").company == company_a


def test_add_page_ignores_another_company_in_the_query_string(isp_client, company_b):
    response = isp_client.get(reverse("admin:conversations_tag_add"), {"company": company_b.pk})
    assert response.status_code == 200
    assert company_b.name not in response.content.decode()


def test_a_purpose_cannot_point_at_another_company_template(isp_client, company_a, company_b):
    theirs = Template.objects.create(
        company=company_b, name="qqbeta_aviso", language="pt_BR", category="UTILITY", status="APPROVED"
    )
    data = {"company": company_b.pk, "purpose": TemplatePurpose.Purpose.choices[0][0], "template": theirs.pk}
    response = isp_client.post(reverse("admin:templates_meta_templatepurpose_add"), {**data, "parameters": "[]"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "template" in response.context["adminform"].form.errors
    assert company_b.name not in html and "qqbeta" not in html
    assert not TemplatePurpose.objects.exists()


def test_an_isp_admin_edits_its_company_but_not_its_status_or_contract(isp_client, company_a):
    response = isp_client.get(reverse("admin:companies_company_change", args=[company_a.pk]))
    form = response.context["adminform"].form
    assert "status" not in form.fields and "contract" not in form.fields
    assert "support_phone" in form.fields
    listed = isp_client.get(reverse("admin:companies_company_changelist"))
    assert listed.context["action_form"] is None  # (de)activating companies is the platform's


def test_tags_of_another_company_are_not_deleted_by_selecting_their_ids(isp_client, company_a, company_b):
    mine, theirs = Tag.objects.create(company=company_a, name="vip"), Tag.objects.create(company=company_b, name="x")
    isp_client.post(
        reverse("admin:conversations_tag_changelist"),
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )
    assert list(Tag.objects.all()) == [theirs]


def test_a_project_admin_without_the_scoping_is_platform_only_and_flagged():
    site = PonteAdminSite(name="probe")
    site.register(Contact, admin.ModelAdmin)
    registered = site._registry[Contact]
    assert isinstance(registered, CompanyScopedAdmin)
    assert registered.company_path is None and registered.made_platform_only  # the registry test fails on it


@pytest.mark.parametrize("path", ["<undeclared>", "contact", "company__name", "nowhere"])
def test_a_company_path_that_does_not_reach_a_company_is_refused(path):
    class ProbeAdmin(CompanyScopedAdmin):
        pass

    if path != "<undeclared>":
        ProbeAdmin.company_path = path
    with pytest.raises(ImproperlyConfigured):
        PonteAdminSite(name="probe").register(Tag if path == "contact" else Contact, ProbeAdmin)


def test_pk_is_the_path_of_company_only():
    class ProbeAdmin(CompanyScopedAdmin):
        company_path = "pk"

    PonteAdminSite(name="probe").register(Company, ProbeAdmin)
    with pytest.raises(ImproperlyConfigured):
        PonteAdminSite(name="probe").register(Contact, ProbeAdmin)


def test_the_template_sync_page_lists_only_the_isp_admin_wabas(isp_client, company_a, company_b):
    CloudChannelFactory(company=company_a, waba_id="111000111")
    CloudChannelFactory(company=company_b, waba_id="999000999")
    response = isp_client.get(reverse("admin:templates_meta_template_sync"))
    assert response.status_code == 200
    assert [row["waba_id"] for row in response.context["wabas"]] == ["111000111"]
    assert "999000999" not in response.content.decode()
