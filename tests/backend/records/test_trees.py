"""A document's parsed revision tree is kept only while its stored form is the same object."""

from __future__ import annotations

from types import SimpleNamespace

from backend.records.trees import set_tree, tree_of
from sync import revtree


def _path(rev_hash: str) -> revtree.RevPath:
    return revtree.path_from_revisions(1, [rev_hash], deleted=False)


def test_the_parsed_tree_follows_the_stored_form():
    first, _ = revtree.merge((), _path("a" * 32), revs_limit=10)
    second, _ = revtree.merge(first, _path("b" * 32), revs_limit=10)
    document = SimpleNamespace(tree=revtree.to_json(first))
    assert tree_of(document) == first
    assert tree_of(document) is tree_of(document)  # parsed once
    document.tree = revtree.to_json(second)  # a write assigns a new stored form
    assert tree_of(document) == second
    set_tree(document, first)
    assert document.tree == revtree.to_json(first)
    assert tree_of(document) is first
