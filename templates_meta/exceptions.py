"""What the template catalogue refuses, in the API's error format (``config.errors``)."""

from config.exceptions import DomainError


class TemplateNotUsable(DomainError):
    status = 422
    code = "template_not_usable"
    message = "The template cannot be sent."
