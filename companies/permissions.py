"""Who may do what: platform admins manage every company; a company key reads its own."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from companies.authentication import CompanyPrincipal
from companies.members import member_of


def company_of(request: Request):
    """The company a company key is bound to, or None for a platform admin."""
    user = request.user
    return user.company if isinstance(user, CompanyPrincipal) else None


PLATFORM_PERMISSION = "companies.manage_platform"


def is_platform_admin(request: Request) -> bool:
    """A superuser, or a staff member granted ``manage_platform``: being staff alone is not enough,
    since an ISP's own admins get staff accounts for the admin panel. A company's member never is one."""
    user = request.user
    if not user or not user.is_authenticated or isinstance(user, CompanyPrincipal) or member_of(user):
        return False
    return bool(user.is_staff and (user.is_superuser or user.has_perm(PLATFORM_PERMISSION)))


class IsPlatformAdmin(BasePermission):
    message = "This endpoint needs a platform (staff) token."

    def has_permission(self, request: Request, view) -> bool:
        return is_platform_admin(request)


class IsCompanyKey(BasePermission):
    message = "This endpoint needs a company API key."

    def has_permission(self, request: Request, view) -> bool:
        return isinstance(request.user, CompanyPrincipal)


class PlatformAdminOrCompanyReadOnly(BasePermission):
    """Platform admins do anything; a company key may only read (and only its own company)."""

    message = "Only platform admins may change companies and channels."

    def has_permission(self, request: Request, view) -> bool:
        if is_platform_admin(request):
            return True
        return isinstance(request.user, CompanyPrincipal) and request.method in SAFE_METHODS
