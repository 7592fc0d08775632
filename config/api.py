"""Base pieces every API view uses: rate limits and strict request bodies."""

from typing import Any

from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.request import Request

from config.nul import MESSAGE, nul_path
from config.ratelimit import enforce_ip_limit, enforce_key_limit


class RateLimitedMixin:
    """Counts each request against the per-IP and per-key limits (see ``config.ratelimit``)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        enforce_ip_limit(request)
        super().initial(request, *args, **kwargs)
        enforce_key_limit(request)


class StrictSerializerMixin:
    """Rejects fields the serializer does not know, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class JSONParser(parsers.JSONParser):
    """DRF's parser, with absurdly nested bodies refused as 400 instead of crashing the request, and
    NUL characters anywhere in the document refused as 400 naming where (``config.nul``)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        if (where := nul_path(data)) is not None:
            raise serializers.ValidationError({where: [MESSAGE]})
        return data
