"""What a call to Chatwoot can fail with, and whether trying again later can help."""


class ChatwootError(Exception):
    """A call to Chatwoot that failed; ``retryable`` when a later attempt may succeed (network, 5xx, 429).

    ``status`` is Chatwoot's HTTP status, or None when no answer came. The message never holds the API token.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class ChatwootNotConfigured(ChatwootError):
    """The company has no (complete) Chatwoot settings: nothing can be sent until an operator fills them in."""
