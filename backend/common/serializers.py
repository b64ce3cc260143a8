"""Serializer helpers: strict input (unknown fields are an error) and document content fields."""

from __future__ import annotations

from functools import cache
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .schemas import schema_for

#: Largest id a database integer key can hold; bigger numbers are a 400, not an overflow.
MAX_ID = 2**63 - 1


def id_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare instead of silently ignoring them. The refusal lists
    the fields it accepts, not the one sent: a stray name may be case data put in the wrong
    place, and error bodies get logged."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and not set(data) <= set(self.fields):
            accepted = ", ".join(sorted(self.fields)) or "none"
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        serializers.ErrorDetail(
                            f"unknown field; the fields accepted here are: {accepted}", code="unknown_field"
                        )
                    ]
                }
            )
        return super().to_internal_value(data)


def _openapi_schema(doc_type: str, *, partial: bool, server_set: frozenset[str]) -> dict[str, Any]:
    raw = dict(schema_for(doc_type).raw)
    raw.pop("$schema", None)
    raw.pop("$id", None)
    if partial:
        raw.pop("required", None)
    elif server_set:
        raw["required"] = [name for name in raw.get("required", []) if name not in server_set]
    if server_set:
        # The server fills these; a client may echo them back unchanged but never sets them.
        properties = dict(raw.get("properties", {}))
        for name in server_set & properties.keys():
            properties[name] = {**properties[name], "readOnly": True}
        raw["properties"] = properties
    return raw


class ContentField(serializers.JSONField):
    """A document's content object; validated against its JSON Schema by the store service."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError("content must be a JSON object")
        return super().to_internal_value(data)


@cache
def content_field_class(
    doc_type: str, *, partial: bool = False, server_set: frozenset[str] = frozenset()
) -> type[ContentField]:
    """A ContentField subclass whose OpenAPI schema is the document type's JSON Schema
    (``partial``: nothing required; ``server_set``: fields the server fills, not required)."""
    suffix = "Patch" if partial else ("Input" if server_set else "")
    cls = type(f"{doc_type.title()}{suffix}ContentField", (ContentField,), {})
    return extend_schema_field(_openapi_schema(doc_type, partial=partial, server_set=server_set))(cls)
