"""Billing's domain errors: why the live spend dashboard (page or WebSocket) turns someone away."""

from config.exceptions import DomainError


class DashboardRefused(DomainError):
    status = 403
    code = "dashboard_refused"
    message = "You may not watch this spend dashboard."


class NoCompany(DashboardRefused):
    code = "no_company"
    message = "This login belongs to no company, so it has no spend dashboard: ask your ISP's admin for access."


class OtherCompany(DashboardRefused):
    code = "other_company"
    message = "This login may watch its own company's spend only."


class UnknownCompany(DashboardRefused):
    status = 404
    code = "unknown_company"
    message = "No company has that contract."
