"""The REST JSON parser: DRF's, refusing text no database may store (see ``safe_input``)."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import JSONParser

from .errors import ApplicationError, ErrorCode
from .safe_input import TOO_DEEP, json_problem


class SafeJSONParser(JSONParser):
    """``JSONParser`` that answers 400 ``bad_request`` for a NUL character or a lone surrogate
    anywhere in the body (keys too), or nesting deeper than ``MAX_JSON_DEPTH``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The standard library's decoder recurses once per level: far past our limit.
            raise ApplicationError(ErrorCode.BAD_REQUEST, f"the request body {TOO_DEEP}") from None
        problem = json_problem(data)
        if problem is not None:
            raise ApplicationError(ErrorCode.BAD_REQUEST, f"the request body {problem}")
        return data
