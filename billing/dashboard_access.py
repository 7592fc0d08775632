"""Who may watch which company's live spend dashboard: the page and its WebSocket ask the same question.

A company's member (agent or ISP admin) watches its own company, and only it. Platform staff (staff with no
membership) who may read spend entries watch the company whose contract they name, and choose one from a
list when they name none. Anyone else is refused.
"""

import uuid

from django.contrib.auth.models import AbstractBaseUser

from billing.exceptions import NoCompany, OtherCompany, UnknownCompany
from companies.cache import get_company_by_contract
from companies.members import member_of
from companies.models import Company

SPEND_PERMISSION = "billing.view_spendentry"


def is_platform_viewer(user: AbstractBaseUser) -> bool:
    """Platform staff allowed to watch any company's dashboard (a superuser, or staff granted the permission)."""
    return bool(user.is_staff and member_of(user) is None and user.has_perm(SPEND_PERMISSION))


def _parsed(contract: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(contract)
    except ValueError:
        return None


def company_to_watch(user: AbstractBaseUser, contract: str | None) -> Company | None:
    """The company a logged-in ``user`` watches, given the ``contract`` it asked for (None or "": none).

    Returns None for platform staff who named no company (they choose one). Raises ``OtherCompany`` when a
    member names another company, ``NoCompany`` for a login with neither a membership nor the staff's
    permission, ``UnknownCompany`` when staff name a contract no company has.
    """
    member = member_of(user)
    if member is not None:
        if contract and _parsed(contract) != member.company.contract:
            raise OtherCompany()
        return member.company
    if not is_platform_viewer(user):
        raise NoCompany()
    if not contract:
        return None
    company = get_company_by_contract(contract)
    if company is None:
        raise UnknownCompany()
    return company
