"""Text no database may see: NUL characters, lone surrogates, and JSON nested too deep.

PostgreSQL refuses NUL in ``text`` and ``jsonb``; neither engine can encode a lone surrogate
(an unpaired ``\\ud800``–``\\udfff`` JSON escape) as UTF-8; a body nested a thousand deep
overflows Python's recursion limit when it is serialised again. So every string that enters
by the URL, the query, credentials or a JSON body is checked once at that edge (the request
middleware, the REST JSON parser, the replication endpoint's body and query-JSON parsing), and
refused there with a 4xx; nothing behind the edge has to think about it. The reasons returned
name the rule broken, never the text that broke it.
"""

from __future__ import annotations

from typing import Any

#: Deepest nesting accepted in a JSON body or query parameter. Case documents nest four deep
#: (a visit's ``actions`` items), replication checkpoints three.
MAX_JSON_DEPTH = 64

NUL = "contains a NUL character"
SURROGATE = "contains a lone surrogate"
TOO_DEEP = f"is nested more than {MAX_JSON_DEPTH} deep"


def text_problem(text: str) -> str | None:
    """Why ``text`` may not be stored (``NUL`` or ``SURROGATE``), or None."""
    if "\x00" in text:
        return NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why the parsed JSON ``value`` may not be stored (a string or key in it has a problem,
    or it nests more than ``max_depth`` deep), or None. Iterative: depth cannot overflow it."""
    if isinstance(value, str):
        return text_problem(value)
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return TOO_DEEP
        items = node.items() if isinstance(node, dict) else ((None, item) for item in node)
        for key, item in items:
            if key is not None and (problem := text_problem(key)) is not None:
                return problem
            if isinstance(item, str):
                if (problem := text_problem(item)) is not None:
                    return problem
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return None
