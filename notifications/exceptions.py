"""What a notice request is refused for, in the API's error format (``config.errors`` renders them)."""

from config.exceptions import Conflict, DomainError


class CustomerNotFound(DomainError):
    status = 404
    code = "customer_not_found"
    message = "The ERP has no customer with this code."


class InvoiceNotFound(DomainError):
    status = 404
    code = "invoice_not_found"
    message = "These invoices are not among the customer's open invoices in the ERP."


class ErpNotConfigured(Conflict):
    code = "erp_not_configured"
    message = "The company has no ERP set up: set its system, URL and credentials in the admin."


class ErpUnavailable(DomainError):
    """Nothing was accepted: the ERP is down or slow. The caller tries again later (Retry-After)."""

    status = 503
    code = "erp_unavailable"
    message = "The company's ERP could not be reached. Nothing was sent; try again later."
    retry_after_seconds = 60


class ErpFailed(DomainError):
    """The ERP answered, but not with an answer: refused our credentials, an error page, its error shape."""

    status = 502
    code = "erp_error"
    message = "The company's ERP did not answer as expected. Nothing was sent."
