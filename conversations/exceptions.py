"""What the conversation core refuses, in the API's error format (``config.errors`` renders them once)."""

from config.exceptions import Conflict, DomainError


class WindowClosed(Conflict):
    code = "window_closed"
    message = (
        "The contact's last message is older than 24 hours: on the WhatsApp Cloud API only an approved "
        "template can be sent now."
    )


class NoChannel(Conflict):
    code = "no_channel"
    message = "The company has no channel that can send this message."


class InvalidField(DomainError):
    """A value the caller gave that the core cannot use, rendered as the API's own field errors."""

    code = "invalid"
    message = "The request has invalid fields."
    field = ""
    reason = ""

    def __init__(self) -> None:
        super().__init__(details={self.field: [self.reason]})


class ChannelNotUsable(InvalidField):
    field, reason = "channel", "Not an active channel of this company."


class InvalidRecipient(InvalidField):
    field, reason = "to", "Not a phone number: use the country code, e.g. 5544998887777."


class CompanyInactive(Conflict):
    code = "company_inactive"
    message = "The company is inactive: nothing is sent."


class NotRetryable(Conflict):
    code = "not_retryable"
    message = "Only failed or cancelled messages can be retried."


class SessionClosed(Conflict):
    code = "session_closed"
    message = "The session is already closed."
