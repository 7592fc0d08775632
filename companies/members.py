"""Company members: the one writer of memberships, and who a logged-in user is to the product.

A user with a ``Member`` row belongs to that company, whatever its flags say: an ISP admin reaches the
Django admin scoped to its company, an agent only the live dashboard. Staff without a membership are the
platform's operators, limited by their Django permissions (a superuser sees everything). A member is
never a platform admin: a superuser cannot be made one, and its platform tokens are revoked.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from companies.models import Company, Member, PlatformToken
from config.exceptions import Conflict, DomainError


class NotAllowedAsMember(DomainError):
    code = "not_allowed_as_member"
    message = "A platform admin (superuser) cannot be a company's member."


def member_of(user: AbstractBaseUser | AnonymousUser | None) -> Member | None:
    """The membership of a logged-in user, or None (anonymous, or platform staff).

    Django caches the reverse one-to-one on the user instance, a missing one too, so asking again within a
    request costs no query.
    """
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.member
    except Member.DoesNotExist:
        return None


@transaction.atomic
def set_member(*, user: AbstractBaseUser, company: Company, role: str) -> Member:
    """Make ``user`` a member of ``company`` with ``role``, or move it or change its role; returns the membership.

    An ISP admin gets staff status (the admin's login asks for it) and an agent loses it, since the live
    dashboard is its only place. Raises ``NotAllowedAsMember`` for a superuser.
    """
    if role not in Member.Role.values:
        raise DomainError(f"Unknown role {role!r}; one of {', '.join(Member.Role.values)}.", code="unknown_role")
    if user.is_superuser:
        raise NotAllowedAsMember()
    member, _ = Member.objects.update_or_create(user=user, defaults={"company": company, "role": role})
    is_staff = role == Member.Role.ISP_ADMIN
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    PlatformToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    user.member = member  # later reads in this request see the new membership
    return member


@transaction.atomic
def create_member_user(*, company: Company, role: str, username: str, password: str, email: str = "") -> Member:
    """Create a login for a new person of ``company`` with ``role``; returns the membership.

    Raises ``Conflict`` when the username is taken.
    """
    users = get_user_model()
    if users.objects.filter(username__iexact=username).exists():
        raise Conflict(f"The username {username!r} is taken.", code="username_taken")
    user = users.objects.create_user(username=username, email=email, password=password)
    return set_member(user=user, company=company, role=role)


@transaction.atomic
def remove_member(*, member: Member) -> None:
    """End a membership: the user keeps its login but reaches neither the admin nor the dashboard.

    Its staff flag goes too, or the user would pass for the platform's staff.
    """
    user = member.user
    member.delete()
    if user.is_staff:
        user.is_staff = False
        user.save(update_fields=["is_staff"])


def set_member_password(*, member: Member, password: str) -> None:
    """Give a member's login a new password (an ISP admin resetting its agent's)."""
    member.user.set_password(password)
    member.user.save(update_fields=["password"])
