"""The OpenAPI description's shared parts: the error body, the 4xx every operation may answer,
and the page envelope of paginated lists (drf-spectacular)."""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, inline_serializer
from rest_framework import serializers

from .errors import ErrorCode
from .pagination import Pagination
from .serializers import StrictSerializer


@extend_schema_serializer(component_name="Error")
class ErrorOutput(serializers.Serializer):
    """The body of every REST refusal (docs/api.md, "Errors")."""

    code = serializers.ChoiceField(choices=[c.code for c in ErrorCode], help_text="Stable; switch on this.")
    message = serializers.CharField(help_text="For people; never repeats submitted values.")
    field = serializers.CharField(required=False, help_text="Dotted path of the offending field.")
    current_rev = serializers.CharField(required=False, help_text="stale_revision: the current revision.")
    wipe = serializers.BooleanField(required=False, help_text="device_revoked: erase local data.")
    lock = serializers.BooleanField(required=False, help_text="device_revoked: lock, keep data sealed.")


#: Which refusals an operation documents, decided from the operation itself (so an endpoint
#: added later is described without anyone remembering to): (status, description, applies).
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_ERRORS: tuple[tuple[int, str, Any], ...] = (
    (400, "Bad input (a field, a query parameter, JSON, a NUL character); nothing is stored.", None),
    (401, "Not signed in, wrong credentials, or the token expired or was revoked.", None),
    (403, "Signed in, but this role may not do this.", "authenticated"),
    (404, "Not found, or outside your scope (the two are not told apart); or no such page.", "lookup"),
    (409, "The revision you edited is stale (current_rev), or the change conflicts.", "write"),
    (413, "The request body is over the size limit.", "body"),
    (415, "The request body is not application/json.", "body"),
    (429, "Too many attempts; try again later (Retry-After).", "anonymous"),
    (503, "The database was busy and nothing was saved; send the same request again.", "write"),
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error responses each operation can give, and
    ``additionalProperties: false`` on request bodies that refuse unknown fields."""

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = {"application/json": {"schema": self.resolve_serializer(ErrorOutput, "response").ref}}
        traits = self._traits(operation)
        for status, description, applies in _ERRORS:
            if applies is None or applies in traits:
                operation["responses"].setdefault(str(status), {"content": error, "description": description})
        return operation

    def _traits(self, operation: dict[str, Any]) -> set[str]:
        parameters = operation.get("parameters", [])
        secured = any(requirement for requirement in operation.get("security", []))
        traits = {"authenticated" if secured else "anonymous"}
        if any(p["in"] == "path" or p["name"] == "page" for p in parameters):
            traits.add("lookup")
        if self.method in _WRITE_METHODS:
            traits.add("write")
        if "requestBody" in operation:
            traits.add("body")
        return traits


#: The query parameters every paginated list takes.
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1 (past the last page: 404)."),
    OpenApiParameter(
        "page_size",
        int,
        description=f"Items per page (default {Pagination.page_size}, at most {Pagination.max_page_size}).",
    ),
]


@functools.cache
def paginated(item: type[serializers.Serializer]) -> serializers.Serializer:
    """The page envelope ``{"count", "next", "previous", "results"}`` around ``item`` (as
    ``Pagination.get_paginated_response`` renders it), as one named component per item type."""
    name = item.__name__.removesuffix("Output")
    return inline_serializer(
        f"Paginated{name}List",
        {
            "count": serializers.IntegerField(min_value=0),
            "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
            "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
            "results": item(many=True),
        },
    )
