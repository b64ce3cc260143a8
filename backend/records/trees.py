"""A document's parsed revision tree, kept on the ``Document`` instance while its stored form
is unchanged.

A replicated write round reads each document's tree several times (the checks, the store, the
merge); parsing the stored JSON each time cost more than the merge rules. Trees are immutable,
so the parsed one is kept on the instance together with the very JSON object it came from:
assigning ``document.tree`` (as every write does, with a fresh ``to_json`` list) makes the next
``tree_of`` parse again, so a stale tree is never returned.
"""

from __future__ import annotations

from typing import Any

from sync import revtree

_ATTRIBUTE = "_parsed_revtree"


def tree_of(document: Any) -> revtree.RevTree:
    """``revtree.from_json(document.tree)``, parsed once per stored form."""
    stored = document.tree
    cached = document.__dict__.get(_ATTRIBUTE)
    if cached is not None and cached[0] is stored:
        return cached[1]  # type: ignore[no-any-return]
    tree = revtree.from_json(stored)
    document.__dict__[_ATTRIBUTE] = (stored, tree)
    return tree


def set_tree(document: Any, tree: revtree.RevTree) -> None:
    """Store ``tree`` on ``document`` (its JSON form in ``document.tree``) and keep it parsed."""
    stored = revtree.to_json(tree)
    document.tree = stored
    document.__dict__[_ATTRIBUTE] = (stored, tree)
