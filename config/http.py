"""Every outgoing HTTP request goes through here: default timeouts, our User-Agent, masked logs.

It does not retry: retrying is the task's decision (see the sending engine).
"""

import logging
from typing import Any

import requests

from config.masking import mask_text

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5, 30)  # connect, read (seconds)
USER_AGENT = "Ponte/1.0 (+WhatsApp middleware for ISPs)"


class OutgoingSession(requests.Session):
    def __init__(self, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            logger.warning("HTTP %s %s failed: %s", method, mask_text(url), mask_text(str(exc)))
            raise
        level = logging.INFO if response.ok else logging.WARNING
        if logger.isEnabledFor(level):  # masking is regex work: not for a line nobody keeps (1,000 sends/s)
            logger.log(level, "HTTP %s %s -> %s", method, mask_text(url), response.status_code)
        return response


def session(*, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> OutgoingSession:
    """A new session; callers keep one per provider instance to reuse connections."""
    return OutgoingSession(timeout=timeout)
