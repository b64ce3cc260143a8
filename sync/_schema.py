"""Document schemas: loading and checking ``schemas/*.schema.json``, validation, clear/secret split.

Each schema is JSON Schema 2020-12 describing a document's *content* (everything except the
envelope fields ``_id``, ``_rev``, ``type``, ``case_id`` and ``schema``). Two annotations on
every property drive the rest of the system:

- ``x-merge``: how concurrent edits of the field merge (see ``MERGE_RULES``); nested
  ``object`` fields and ``keyed`` lists of objects carry rules on their own properties too;
- ``x-clear: true``: the field is routing/workflow metadata kept in clear text in ``meta``;
  every other field travels and rests encrypted inside ``enc``.

Schemas are checked when they load; a property without a rule, or with an unknown one, raises
``SchemaDefinitionError`` so a bad schema can never reach production quietly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ._errors import InvalidDocument, SchemaDefinitionError

try:  # optional accelerator; the results are the same without it, only slower
    import jsonschema_rs
except ImportError:  # pragma: no cover - installed with doorstep-sync
    jsonschema_rs = None  # type: ignore[assignment]

#: Rules for leaf values, and the two structural rules that recurse.
LEAF_RULES = frozenset({"text", "union", "latest", "max", "min", "immutable", "review"})
STRUCTURAL_RULES = frozenset({"object", "keyed"})
MERGE_RULES = LEAF_RULES | STRUCTURAL_RULES

#: Fields every document carries outside its content.
ENVELOPE_FIELDS = ("_id", "_rev", "type", "case_id", "schema")

DOC_TYPES = ("case", "person", "visit", "note", "addendum")


@dataclass(frozen=True)
class FieldRule:
    """How one property merges. ``fields`` holds the nested rules of ``object``/``keyed`` ones."""

    name: str
    rule: str
    clear: bool = False
    key: str | None = None
    order: tuple[str, ...] | None = None
    review_safe: str | None = None
    fields: Mapping[str, FieldRule] = field(default_factory=dict)


@dataclass(frozen=True)
class DocSchema:
    """A loaded, checked schema for one document type."""

    doc_type: str
    version: int
    raw: Mapping[str, Any]
    rules: Mapping[str, FieldRule]
    validator: Any = field(repr=False, compare=False)
    #: jsonschema-rs, when installed: answers "valid?" ~100x faster; jsonschema (above) stays
    #: the authority and words every error.
    fast_validator: Any = field(default=None, repr=False, compare=False)

    @cached_property
    def clear_fields(self) -> frozenset[str]:
        # Worked out once per schema: every split and join (every body sealed or opened) asks.
        return frozenset(name for name, rule in self.rules.items() if rule.clear)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.raw.get("required", ()))

    def errors(self, content: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Yield ``(field path, message)`` for every violation, without leaking values."""
        for error in self.validator.iter_errors(content):
            yield _describe(error)

    def validate(self, content: Mapping[str, Any]) -> None:
        """Raise ``InvalidDocument`` naming the first offending field if ``content`` is invalid."""
        if self.fast_validator is not None:
            try:
                if self.fast_validator.is_valid(content):
                    return
            except (TypeError, ValueError):  # not plain JSON data: let jsonschema judge
                pass
        error = best_match(self.validator.iter_errors(content))
        if error is not None:
            path, message = _describe(error)
            raise InvalidDocument(message, field=path, rule=_RULE_OF.get(error.validator, "invalid"))

    def split(self, content: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split content into ``(meta, secret)``: clear workflow fields and the ones to encrypt."""
        clear = self.clear_fields
        meta = {k: v for k, v in content.items() if k in clear}
        secret = {k: v for k, v in content.items() if k not in clear}
        return meta, secret

    def join(self, meta: Mapping[str, Any], secret: Mapping[str, Any]) -> dict[str, Any]:
        """Inverse of ``split``; refuses secret fields smuggled into ``meta``."""
        clear = self.clear_fields
        # Only the schema's own field names are named: any other key could be case data.
        for name in meta:
            if name not in clear:
                if name in self.rules:
                    raise InvalidDocument(f"field {name!r} may not be sent in clear meta", field=name)
                raise InvalidDocument("meta carries a field the schema does not define", field="meta")
        for name in secret:
            if name in clear:
                raise InvalidDocument(f"field {name!r} belongs in meta", field=name)
        return {**secret, **meta}


_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
#: The error code of a validator's failure (``InvalidDocument.rule``); the rest are ``invalid``.
_RULE_OF = {"additionalProperties": "unknown_field", "required": "missing_field"}


def field_names(names: Iterable[object]) -> str:
    """Names for an error message: identifier-like names are shown, anything else (which could
    be case data used as a key by a careless client) is only counted. (The server names none:
    ``backend.records.codec.refusal_reason``.)"""
    shown = [repr(n) for n in names if isinstance(n, str) and _FIELD_NAME.match(n)]
    hidden = sum(1 for n in names if not (isinstance(n, str) and _FIELD_NAME.match(n)))
    if hidden:
        shown.append(f"{hidden} field name(s) not shown")
    return ", ".join(shown)


def _describe(error: Any) -> tuple[str, str]:
    path = ".".join(str(p) for p in error.absolute_path) or "(document)"
    validator = error.validator
    if validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return path, f"unknown field(s) {field_names(extra)}"
    if validator == "required":
        missing = [n for n in error.validator_value if n not in error.instance]
        field_path = ".".join([*map(str, error.absolute_path), *missing[:1]])
        return (
            field_path or path,
            f"required field {missing[0]!r} is missing" if missing else "required field missing",
        )
    if validator == "type":
        return path, f"{path} must be of type {error.validator_value}"
    if validator == "enum":
        return path, f"{path} must be one of {error.validator_value}"
    if validator == "format":
        return path, f"{path} must be a valid {error.validator_value}"
    if validator in {"maxLength", "minLength", "maxItems", "minItems", "minimum", "maximum"}:
        return path, f"{path} breaks {validator}={error.validator_value}"
    if validator == "pattern":
        return path, f"{path} does not match the expected pattern {error.validator_value}"
    # Other validators: name the rule, never echo the (possibly personal) value.
    return path, f"{path} fails {validator}"


def _check_property(doc_type: str, name: str, prop: Mapping[str, Any], *, top: bool) -> FieldRule:
    where = f"{doc_type}.{name}"
    rule = prop.get("x-merge")
    if rule is None:
        raise SchemaDefinitionError(f"{where} has no x-merge rule")
    if rule not in MERGE_RULES:
        raise SchemaDefinitionError(f"{where} has unknown x-merge rule {rule!r}")
    clear = bool(prop.get("x-clear", False))
    if clear and not top:
        raise SchemaDefinitionError(f"{where}: x-clear is only allowed on top-level fields")
    order = prop.get("x-order")
    if order is not None and (not isinstance(order, list) or rule not in {"max", "min", "review"}):
        raise SchemaDefinitionError(f"{where}: x-order must be a list on a max/min/review field")
    safe = prop.get("x-review-safe")
    if safe is not None and (rule != "review" or safe not in {"max", "min"}):
        raise SchemaDefinitionError(f"{where}: x-review-safe must be max or min on a review field")
    key = prop.get("x-merge-key")
    nested: dict[str, FieldRule] = {}
    if rule == "object":
        props = prop.get("properties")
        if prop.get("type") != "object" or not isinstance(props, dict):
            raise SchemaDefinitionError(f"{where}: an object rule needs type object with properties")
        nested = {n: _check_property(doc_type, f"{name}.{n}", p, top=False) for n, p in props.items()}
    elif rule == "keyed":
        items = prop.get("items", {})
        props = items.get("properties") if isinstance(items, dict) else None
        if prop.get("type") != "array" or not isinstance(props, dict):
            raise SchemaDefinitionError(f"{where}: a keyed rule needs an array of objects")
        if not key or key not in props or key not in items.get("required", []):
            raise SchemaDefinitionError(f"{where}: x-merge-key must name a required item property")
        nested = {n: _check_property(doc_type, f"{name}[].{n}", p, top=False) for n, p in props.items()}
    elif key is not None:
        raise SchemaDefinitionError(f"{where}: x-merge-key only applies to keyed lists")
    elif rule == "union" and prop.get("type") != "array":
        raise SchemaDefinitionError(f"{where}: a union rule needs an array")
    return FieldRule(
        name=name,
        rule=rule,
        clear=clear,
        key=key,
        order=tuple(order) if order else None,
        review_safe=safe,
        fields=nested,
    )


def parse_schema(raw: Mapping[str, Any]) -> DocSchema:
    """Check one schema document and build its ``DocSchema``; raises ``SchemaDefinitionError``."""
    doc_type = raw.get("x-doc-type")
    if not isinstance(doc_type, str):
        raise SchemaDefinitionError("schema has no x-doc-type")
    version = raw.get("x-schema-version")
    if not isinstance(version, int):
        raise SchemaDefinitionError(f"{doc_type}: schema has no integer x-schema-version")
    if raw.get("additionalProperties") is not False:
        raise SchemaDefinitionError(f"{doc_type}: schema must set additionalProperties false")
    Draft202012Validator.check_schema(raw)
    props = raw.get("properties", {})
    for envelope in ENVELOPE_FIELDS:
        if envelope in props:
            raise SchemaDefinitionError(f"{doc_type}: {envelope} is an envelope field, not content")
    rules = {name: _check_property(doc_type, name, prop, top=True) for name, prop in props.items()}
    validator = Draft202012Validator(raw, format_checker=Draft202012Validator.FORMAT_CHECKER)
    fast = None
    if jsonschema_rs is not None:
        # Formats through jsonschema's own checker, so the fast path can never accept a date the
        # authority refuses (jsonschema-rs alone takes leap seconds, which Python cannot parse).
        checker = Draft202012Validator.FORMAT_CHECKER
        fast = jsonschema_rs.validator_for(
            dict(raw),
            validate_formats=True,
            formats={name: partial(_conforms, checker, name) for name in ("date-time", "date")},
        )
    return DocSchema(
        doc_type=doc_type, version=version, raw=raw, rules=rules, validator=validator, fast_validator=fast
    )


def _conforms(checker: Any, format_name: str, value: Any) -> bool:
    return bool(checker.conforms(value, format_name))


def default_schema_dir() -> Path:
    """``$DOORSTEP_SCHEMAS`` if set, else the repository's ``schemas/`` beside this package."""
    env = os.environ.get("DOORSTEP_SCHEMAS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "schemas"


def load_schemas(directory: Path | str | None = None) -> dict[str, DocSchema]:
    """Load and check every ``*.schema.json``; all five document types must be present."""
    root = Path(directory) if directory is not None else default_schema_dir()
    schemas: dict[str, DocSchema] = {}
    for path in sorted(root.glob("*.schema.json")):
        schema = parse_schema(json.loads(path.read_text(encoding="utf-8")))
        if schema.doc_type in schemas:
            raise SchemaDefinitionError(f"two schemas for document type {schema.doc_type!r}")
        schemas[schema.doc_type] = schema
    missing = [t for t in DOC_TYPES if t not in schemas]
    if missing:
        raise SchemaDefinitionError(f"no schema for document type(s) {missing} in {root}")
    return schemas
