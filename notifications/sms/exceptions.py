"""What the SMS API refuses, in the API's error format (``config.errors`` renders them once)."""

from config.exceptions import Conflict, DomainError


class InvalidInput(DomainError):
    """A field of the request that cannot be sent, rendered as the API's own field errors."""

    code = "invalid"
    message = "The request has invalid fields."

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(details={field: [reason]})


def invalid_numbers(numbers: tuple[str, ...] | list[str]) -> InvalidInput:
    listed = ", ".join(numbers)
    return InvalidInput(
        "to", f"Not a mobile number: {listed}. Give the DDD (5544998887777), and + before another country's code."
    )


class GatewayNotConfigured(Conflict):
    code = "sms_gateway_not_configured"
    message = "The company has no usable SMS gateway: nothing was queued."
