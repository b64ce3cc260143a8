"""Field paths in merged documents, and writing a supervisor's decision at one.

Syntax: ``risk_level``; ``address.town`` (a member of an ``object`` field);
``actions[a1].owner`` (a member of the item whose ``x-merge-key`` is ``a1`` in a ``keyed``
list); ``actions[a1]`` (the item itself). Inside brackets ``\\`` and ``]`` are escaped with a
backslash. A key that occurs more than once in one list (the schemas do not forbid it) is
addressed by occurrence: ``actions[a1]`` is the first, ``actions[a1]#2`` the second.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import InvalidDocument
from ._schema import DocSchema, FieldRule

#: A keyed-list item's identity: its key (as text) and which occurrence of that key it is.
ItemId = tuple[str, int]

_PATH_NAME = re.compile(r"[^.\[\]\\#]+")
_PATH_KEY = re.compile(r"\[((?:[^\]\\]|\\.)*)\](?:#([1-9][0-9]*))?")


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def item_path(path: str, key: str, occurrence: int) -> str:
    escaped = key.replace("\\", "\\\\").replace("]", "\\]")
    return f"{path}[{escaped}]" + (f"#{occurrence}" if occurrence > 1 else "")


def index_items(items: Sequence[Any], key: str, path: str) -> dict[ItemId, Mapping[str, Any]]:
    """A keyed list's items by identity, in list order; raises ``InvalidDocument`` for an item
    that is not an object or lacks its key."""
    indexed: dict[ItemId, Mapping[str, Any]] = {}
    counts: dict[str, int] = {}
    for item in items:
        if not isinstance(item, Mapping) or key not in item:
            raise InvalidDocument(f"{path} items must be objects with {key!r}", field=path)
        value = item[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        counts[text] = counts.get(text, 0) + 1
        indexed[(text, counts[text])] = item
    return indexed


def parse_path(path: str) -> list[str | ItemId]:
    """Split a field path into member names and item identities; raises ``InvalidDocument``."""
    parts: list[str | ItemId] = []
    position = 0
    while position < len(path) or not parts:
        match: re.Match[str] | None
        if parts and path[position] == "[":
            match = _PATH_KEY.match(path, position)
            if match is None or not isinstance(parts[-1], str):
                raise InvalidDocument(f"malformed field path {path!r}", field=path)
            key = re.sub(r"\\(.)", r"\1", match.group(1))
            parts.append((key, int(match.group(2) or 1)))
        else:
            if parts and path[position] != ".":
                raise InvalidDocument(f"malformed field path {path!r}", field=path)
            match = _PATH_NAME.match(path, position + 1 if parts else position)
            if match is None:
                raise InvalidDocument(f"malformed field path {path!r}", field=path)
            parts.append(match.group())
        position = match.end()
    return parts


def _allows_null(prop: Mapping[str, Any]) -> bool:
    kind = prop.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def apply_decision(schema: DocSchema, content: Mapping[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of ``content`` with the decided ``value`` written at ``field`` (a merge path).

    ``None`` on a field whose schema does not allow null removes the field, so any
    ``Candidate.value`` can be applied as it is. A path ending at a list item
    (``actions[a1]``) replaces the item (same key required) or, with ``None``, removes it.
    Raises ``InvalidDocument`` if the path is malformed, names no schema field or no existing
    list item, or if the result does not satisfy the schema.
    """
    parts = parse_path(field)
    result = copy.deepcopy(dict(content))
    holder: dict[str, Any] = result
    rules: Mapping[str, FieldRule] = schema.rules
    props: Mapping[str, Any] = schema.raw.get("properties", {})
    index = 0
    while True:
        name = parts[index]
        if not isinstance(name, str) or name not in rules:
            raise InvalidDocument(f"unknown field path {field!r}", field=field)
        rule, prop = rules[name], props.get(name, {})
        if index == len(parts) - 1:
            if value is None and not _allows_null(prop):
                holder.pop(name, None)
            else:
                holder[name] = copy.deepcopy(value)
            break
        following = parts[index + 1]
        if rule.rule == "object" and isinstance(following, str):
            inner = holder.setdefault(name, {})
            if not isinstance(inner, dict):
                raise InvalidDocument(f"{field!r} lies inside a non-object value", field=field)
            holder, rules, props = inner, rule.fields, prop.get("properties", {})
            index += 1
            continue
        if rule.rule != "keyed" or not isinstance(following, tuple):
            raise InvalidDocument(f"unknown field path {field!r}", field=field)
        items = holder.get(name)
        key = rule.key or ""
        item = index_items(items if isinstance(items, list) else [], key, field).get(following)
        if item is None or not isinstance(items, list):
            raise InvalidDocument(f"no list item at {field!r}", field=field)
        position = next(i for i, candidate in enumerate(items) if candidate is item)
        if index + 1 == len(parts) - 1:
            if value is None:
                del items[position]
            elif isinstance(value, Mapping) and value.get(key) == item[key]:
                items[position] = copy.deepcopy(dict(value))
            else:
                raise InvalidDocument(f"{field!r} needs an item with the same key", field=field)
            break
        holder = items[position]
        rules, props = rule.fields, prop.get("items", {}).get("properties", {})
        index += 2
    schema.validate(result)
    return result
