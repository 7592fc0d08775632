"""Members: the writer keeps roles and staff flags in step, and the members' admin lets an ISP admin manage
its own agents only; agents never get into the admin."""

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from companies import members, services
from companies.models import Member, PlatformToken
from companies.permissions import is_platform_admin
from config.exceptions import Conflict
from tests.companies.admin_scoping.conftest import PASSWORD
from tests.factories import StaffUserFactory

User = get_user_model()


def test_an_isp_admin_is_staff_and_an_agent_is_not(isp_admin, agent):
    assert isp_admin.user.is_staff and not isp_admin.user.is_superuser
    assert not agent.user.is_staff


def test_changing_the_role_moves_the_staff_flag(agent, company_b):
    member = members.set_member(user=agent.user, company=company_b, role=Member.Role.ISP_ADMIN)
    agent.user.refresh_from_db()
    assert member.pk == agent.pk and member.company == company_b
    assert agent.user.is_staff


def test_a_superuser_cannot_be_a_member(company_a):
    with pytest.raises(members.NotAllowedAsMember):
        members.set_member(user=StaffUserFactory(), company=company_a, role=Member.Role.ISP_ADMIN)
    assert not Member.objects.exists()


def test_a_member_is_never_a_platform_admin(company_a):
    staff = StaffUserFactory(is_superuser=False)
    token, _ = services.create_platform_token(user=staff, name="ops")
    members.set_member(user=staff, company=company_a, role=Member.Role.ISP_ADMIN)
    assert not is_platform_admin(SimpleNamespace(user=User.objects.get(pk=staff.pk)))
    assert PlatformToken.objects.get(pk=token.pk).revoked_at is not None


def test_a_taken_username_is_refused(company_a, isp_admin):
    with pytest.raises(Conflict):
        members.create_member_user(company=company_a, role=Member.Role.AGENT, username="ANA", password=PASSWORD)


def test_removing_a_member_takes_its_staff_flag(isp_admin):
    members.remove_member(member=isp_admin)
    isp_admin.user.refresh_from_db()
    assert not isp_admin.user.is_staff
    assert members.member_of(isp_admin.user) is None


def test_deleting_a_company_leaves_no_staff_behind(isp_admin, company_a):
    services.delete_company(company=company_a)
    user = User.objects.get(pk=isp_admin.user.pk)
    assert not user.is_staff and not Member.objects.exists()


def test_an_agent_cannot_open_the_admin(agent):
    client = Client()
    client.force_login(agent.user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_an_agent_cannot_log_in_to_the_admin_even_if_made_staff(agent):
    User.objects.filter(pk=agent.user.pk).update(is_staff=True)  # a flag set by hand does not make it an admin
    client = Client()
    response = client.post(reverse("admin:login"), {"username": "bruno", "password": PASSWORD})
    assert response.status_code == 302  # logged in (the dashboard is its place), but not into the admin
    assert client.get(reverse("admin:index")).status_code == 302


def test_an_isp_admin_logs_in_to_the_admin(isp_admin):
    client = Client()
    response = client.post(reverse("admin:login"), {"username": "ana", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def _new_agent(**overrides) -> dict:
    return {"role": Member.Role.AGENT, "username": "carla", "email": "carla@example.com", "password": PASSWORD}


def test_isp_admin_adds_an_agent_of_its_own_company(isp_client, company_a, company_b):
    data = {**_new_agent(), "company": company_b.pk}  # posted, and ignored: the field is fixed
    response = isp_client.post(reverse("admin:companies_member_add"), data)
    assert response.status_code == 302, response.content.decode()
    member = Member.objects.get(user__username="carla")
    assert member.company == company_a and member.role == Member.Role.AGENT
    assert not member.user.is_staff and member.user.check_password(PASSWORD)


def test_isp_admin_cannot_add_another_isp_admin(isp_client):
    data = {**_new_agent(), "role": Member.Role.ISP_ADMIN}
    response = isp_client.post(reverse("admin:companies_member_add"), data)
    assert response.status_code == 200
    assert "role" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="carla").exists()


def test_isp_admin_resets_and_removes_its_agent(isp_client, agent):
    url = reverse("admin:companies_member_change", args=[agent.pk])
    response = isp_client.post(url, {"role": Member.Role.AGENT, "password": "another horse battery"})
    assert response.status_code == 302, response.content.decode()
    agent.user.refresh_from_db()
    assert agent.user.check_password("another horse battery")
    response = isp_client.post(reverse("admin:companies_member_delete", args=[agent.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Member.objects.filter(pk=agent.pk).exists()


def test_isp_admin_only_sees_other_isp_admins(isp_client, isp_admin, company_a):
    colleague = members.create_member_user(
        company=company_a, role=Member.Role.ISP_ADMIN, username="dora", password=PASSWORD
    )
    url = reverse("admin:companies_member_change", args=[colleague.pk])
    assert isp_client.get(url).status_code == 200  # read-only
    response = isp_client.post(url, {"role": Member.Role.AGENT, "password": "x-new-password-1"})
    assert response.status_code == 403
    assert (
        isp_client.post(reverse("admin:companies_member_delete", args=[isp_admin.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Member.objects.get(pk=colleague.pk).role == Member.Role.ISP_ADMIN


def test_staff_put_an_existing_user_in_a_company(admin_client, company_b):
    user = User.objects.create_user(username="eva", password=PASSWORD)
    response = admin_client.post(
        reverse("admin:companies_member_add"), {"company": company_b.pk, "role": Member.Role.ISP_ADMIN, "user": user.pk}
    )
    assert response.status_code == 302, response.content.decode()
    user.refresh_from_db()
    assert user.member.company == company_b and user.is_staff


def test_staff_cannot_make_a_superuser_a_member(admin_client, admin_user, company_b):
    response = admin_client.post(
        reverse("admin:companies_member_add"),
        {"company": company_b.pk, "role": Member.Role.AGENT, "user": admin_user.pk},
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not Member.objects.exists()
