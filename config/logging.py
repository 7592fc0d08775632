"""Logging filters: the request id on every record, secrets and CPF/CNPJ masked before output."""

import logging

from config.masking import mask_text
from config.request_id import get_request_id

_formatter = logging.Formatter()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            # django.request logs after the middleware has returned; its record carries the request.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or get_request_id()
        return True


class MaskingFilter(logging.Filter):
    """Renders the message (and traceback) once, masked, so no handler sees the raw values."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = mask_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
            # Formatters (the JSON one included) re-render exc_info when present; only the masked
            # text may reach them.
            record.exc_info = None
        return True
