"""Page-number pagination with a client-chosen page size (bounded); a page or size out of bounds is a 400.

DRF's own ignores a ``page_size`` it cannot read (0, -1, "abc", above the maximum) and answers 200 with
the default size, and answers a ``page`` that is not a number 404: the client never learns its mistake.
"""

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        return _whole_number(request, self.page_size_query_param, self.page_size, maximum=self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            return paginator.num_pages
        return _whole_number(request, self.page_query_param, 1)  # past the last page: 404 (Invalid page.)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page number within the paginated result set (404 past the last page).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Number of results per page: 1 to {self.max_page_size}, {self.page_size} by default.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
            },
        ]


def _whole_number(request: Request, name: str, default: int, *, maximum: int | None = None) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    number = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else 0
    if number < 1 or (maximum is not None and number > maximum):
        bounds = f"from 1 to {maximum}" if maximum is not None else "from 1"
        raise ValidationError({name: [f"A whole number {bounds}."]})
    return number
