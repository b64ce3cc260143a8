"""Revision trees: ports of CouchDB's and PouchDB's key-tree tests, then properties."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync._errors import InvalidDocument, InvalidRevision, LocalSyncError, SyncError
from sync._revtree import (
    MergeOutcome,
    RevNode,
    RevPath,
    RevTree,
    ancestry,
    canonical,
    common_ancestor,
    conflicts,
    contains,
    deleted_conflicts,
    find_node,
    from_json,
    is_deleted,
    is_leaf,
    latest,
    leaf_count,
    leaves,
    merge,
    missing_revs,
    new_rev,
    new_rev_hash,
    parse_rev,
    path_from_doc,
    path_from_revisions,
    remove_leaves,
    revisions,
    revs_info,
    stem,
    stored_latest,
    stored_leaf_revs,
    stored_revisions,
    to_json,
    winning_rev,
)

NEW_LEAF = MergeOutcome.NEW_LEAF
NEW_BRANCH = MergeOutcome.NEW_BRANCH
INTERNAL_NODE = MergeOutcome.INTERNAL_NODE

#: couch_key_tree_tests.erl merges with ?DEPTH = 10.
DEPTH = 10


def n(rev_hash: str, *children: RevNode, deleted: bool = False, available: bool = True) -> RevNode:
    """A node, written like Erlang's ``{Key, Value, [Children]}``."""
    return RevNode(rev_hash, deleted, available, children)


def tree(*branches: tuple[int, RevNode]) -> RevTree:
    """A tree, written like Erlang's ``[{Pos, Node}, ...]``."""
    return canonical(RevPath(pos, node) for pos, node in branches)


def fold_merge(start: RevTree, paths: Sequence[RevPath], limit: int) -> RevTree:
    for path in paths:
        start, _outcome = merge(start, path, revs_limit=limit)
    return start


# --- CouchDB: couch_key_tree_tests.erl ------------------------------------------------------
#
# Keys are already hex ("1", "1a", "1aa", "1b", "1bb", "2", "3"); "foo", "foo2", "foo3",
# "foo4" become "f0", "f2", "f3", "f4" and "x" becomes "ee" (same order). A value of "foo" or
# "bar" is an available node, ``[]`` (?REV_MISSING) an unavailable one. Tests whose trees
# start at generation 0 are shifted by one, since a revision id starts at 1.

ONE = (1, n("1"))
TWO_SIBS = ((1, n("1")), (1, n("2")))
TWO_CHILD = (1, n("1", n("1a", n("1aa"))))
TWO_CHILD_SIBS = (1, n("1", n("1a"), n("1b")))
ONE_CHILD = (1, n("1", n("1a")))


@dataclass(frozen=True)
class MergeCase:
    start: RevTree
    paths: tuple[RevPath, ...]
    expected: RevTree
    outcome: MergeOutcome  # of every merge in ``paths``
    limit: int = DEPTH


def _path(pos: int, node: RevNode) -> tuple[RevPath, ...]:
    return (RevPath(pos, node),)


COUCH_MERGE_CASES = [
    pytest.param(MergeCase((), _path(*ONE), tree(ONE), NEW_LEAF), id="should_merge_with_empty_tree"),
    pytest.param(MergeCase(tree(ONE), _path(*ONE), tree(ONE), INTERNAL_NODE), id="should_merge_reflexive"),
    pytest.param(
        MergeCase(tree(*TWO_SIBS), _path(*ONE), tree(*TWO_SIBS), INTERNAL_NODE),
        id="should_merge_prefix_of_a_tree_with_tree",
    ),
    pytest.param(
        MergeCase(
            tree(*TWO_SIBS),
            _path(1, n("3")),
            tree(*TWO_SIBS, (1, n("3"))),
            NEW_BRANCH,
        ),
        id="should_produce_conflict_on_merge_with_unrelated_branch",
    ),
    pytest.param(
        MergeCase(tree(TWO_CHILD), _path(*TWO_CHILD), tree(TWO_CHILD), INTERNAL_NODE),
        id="should_merge_reflexive_for_child_nodes",
    ),
    pytest.param(
        MergeCase(
            tree(TWO_CHILD_SIBS),
            # leaf_to_path/1: every leaf path, ancestors as ?REV_MISSING.
            (
                path_from_revisions(2, ["1a", "1"], deleted=False),
                path_from_revisions(2, ["1b", "1"], deleted=False),
            ),
            tree(TWO_CHILD_SIBS),
            INTERNAL_NODE,
        ),
        id="should_merge_tree_to_itself",
    ),
    pytest.param(
        MergeCase(
            tree(TWO_CHILD_SIBS),
            _path(*TWO_CHILD),
            tree((1, n("1", n("1a", n("1aa")), n("1b")))),
            NEW_LEAF,
        ),
        id="should_merge_tree_of_odd_length",
    ),
    pytest.param(
        MergeCase(tree(TWO_CHILD_SIBS), _path(2, n("1a")), tree(TWO_CHILD_SIBS), INTERNAL_NODE),
        id="should_merge_tree_with_stem",
    ),
    pytest.param(
        MergeCase(
            tree((1, n("1", n("1a"), n("1b", n("1bb"))))),
            _path(3, n("1bb")),
            tree((1, n("1", n("1a"), n("1b", n("1bb"))))),
            INTERNAL_NODE,
        ),
        id="should_merge_with_stem_at_deeper_level",
    ),
    pytest.param(
        MergeCase(
            tree((2, n("1a")), (2, n("1b", n("1bb")))),
            _path(3, n("1bb")),
            tree((2, n("1a")), (2, n("1b", n("1bb")))),
            INTERNAL_NODE,
        ),
        id="should_merge_with_stem_at_deeper_level_with_deeper_paths",
    ),
    pytest.param(
        MergeCase(tree(TWO_CHILD), _path(3, n("1aa")), tree(TWO_CHILD), INTERNAL_NODE),
        id="should_merge_single_tree_with_deeper_stem",
    ),
    pytest.param(
        MergeCase(tree(TWO_CHILD), _path(2, n("1a", n("1aa"))), tree(TWO_CHILD), INTERNAL_NODE),
        id="should_merge_tree_with_large_stem",
    ),
    pytest.param(
        MergeCase(
            tree((2, n("1a", n("1aa")))),
            _path(3, n("1aa")),
            tree((2, n("1a", n("1aa")))),
            INTERNAL_NODE,
        ),
        id="should_merge_stems",
    ),
    pytest.param(
        MergeCase(tree(ONE_CHILD), _path(3, n("1aa")), tree(ONE_CHILD, (3, n("1aa"))), NEW_BRANCH),
        id="should_create_conflicts_on_merge",
    ),
    pytest.param(
        MergeCase(tree(ONE_CHILD, (3, n("1aa"))), _path(*TWO_CHILD), tree(TWO_CHILD), NEW_LEAF),
        id="should_create_no_conflicts_on_merge",
    ),
    pytest.param(
        MergeCase(
            tree((1, n("f0", n("f2"), n("f3")))),
            # COUCHDB-902: foo3 gained a child; the conflicting foo2 branch is left alone.
            _path(1, n("f0", n("f3", n("f4"), available=False), available=False)),
            tree((1, n("f0", n("f2"), n("f3", n("f4"))))),
            NEW_LEAF,
        ),
        id="should_ignore_conflicting_branch",
    ),
]


@pytest.mark.parametrize("case", COUCH_MERGE_CASES)
def test_couch_key_tree_merge(case: MergeCase) -> None:
    result = case.start
    for path in case.paths:
        result, outcome = merge(result, path, revs_limit=case.limit)
        assert outcome is case.outcome
    assert result == case.expected


SIBS0 = tree((1, n("1", n("1a"), n("1b"))))  # TwoChildSibs at {0, ...}, shifted
STEMMED1 = tree((2, n("1a", n("1aa"))))  # {1, {"1a", ...}}, shifted
STEMMED2 = tree((3, n("1aa")))  # {2, {"1aa", ...}}, shifted


def _revtree_generate(size: int, seed: int) -> RevTree:
    """Stand-in for test_util:revtree_generate/4: ``size`` revisions, a fifth of them branching."""
    rng = random.Random(seed)
    chains: list[list[str]] = [[f"{rng.getrandbits(128):032x}"]]
    for _ in range(size - 1):
        parent = rng.choice(chains) if rng.random() < 0.2 else chains[-1]
        chains.append([*parent, f"{rng.getrandbits(128):032x}"])
    paths = [path_from_revisions(len(c), c[::-1], deleted=False) for c in chains]
    return fold_merge((), paths, 10 * size)


def _all_revs(revtree: RevTree) -> list[str]:
    return [rev for leaf in leaves(revtree) for rev in leaf.path]


def _random_revs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randint(1, 1000)}-{rng.getrandbits(128):032x}" for _ in range(count)]


LARGE = _revtree_generate(1000, seed=1647)

COUCH_MISSING_CASES = [
    pytest.param(SIBS0, ["1-1", "2-1a"], [], id="should_not_find_missing_leaves"),
    pytest.param(
        SIBS0,
        ["1-1", "1-10", "2-1a", "101-ee"],
        ["1-10", "101-ee"],
        id="should_find_missing_leaves:two_child_sibs",
    ),
    pytest.param(
        STEMMED1,
        ["1-1", "2-1a", "101-ee"],
        ["1-1", "101-ee"],
        id="should_find_missing_leaves:stemmed1",
    ),
    pytest.param(
        STEMMED2,
        ["1-1", "2-1a", "101-ee"],
        ["1-1", "2-1a", "101-ee"],
        id="should_find_missing_leaves:stemmed2",
    ),
    pytest.param(
        LARGE,
        random.Random(1).sample(sorted(set(_all_revs(LARGE))), len(set(_all_revs(LARGE)))),
        [],
        id="should_not_find_missing_leaves_large_test",
    ),
    pytest.param(
        LARGE,
        _random_revs(1000, seed=841737),
        _random_revs(1000, seed=841737),
        id="should_find_missing_leaves_large_test",
    ),
]


@pytest.mark.parametrize(("start", "revs", "expected"), COUCH_MISSING_CASES)
def test_couch_key_tree_find_missing(start: RevTree, revs: list[str], expected: list[str]) -> None:
    assert missing_revs(start, revs)[0] == expected


COUCH_REMOVE_CASES = [
    pytest.param(SIBS0, [], SIBS0, [], id="should_have_no_effect_on_removing_no_leaves"),
    pytest.param(SIBS0, ["1-1"], SIBS0, [], id="should_have_no_effect_on_removing_non_existant_branch"),
    pytest.param(SIBS0, ["2-1b"], tree((1, n("1", n("1a")))), ["2-1b"], id="should_remove_leaf"),
    pytest.param(
        SIBS0,
        ["2-1b", "2-1a"],
        (),
        ["2-1b", "2-1a"],
        id="should_produce_empty_tree_on_removing_all_leaves",
    ),
    pytest.param(STEMMED1, ["2-1a"], STEMMED1, [], id="should_have_no_effect_on_removing_non_existant_node"),
    pytest.param(STEMMED1, ["3-1aa"], (), ["3-1aa"], id="should_produce_empty_tree_on_removing_last_leaf"),
]


@pytest.mark.parametrize(("start", "revs", "expected", "removed"), COUCH_REMOVE_CASES)
def test_couch_key_tree_remove_leafs(
    start: RevTree, revs: list[str], expected: RevTree, removed: list[str]
) -> None:
    assert remove_leaves(start, revs) == (expected, removed)


def _gather(revtree: RevTree, revs: list[str]) -> list[str]:
    """get_key_leafs/2 with several keys: the leaves below any of them, each once."""
    found: list[str] = []
    for rev in revs:
        found += [leaf for leaf in latest(revtree, rev) if leaf not in found]
    return found


ONE_CHILD0 = tree((1, n("1", n("1a"))))

COUCH_GET_CASES = [
    pytest.param(lambda: ancestry(SIBS0, "1-1"), ["1-1"], id="should_extract_subtree"),
    pytest.param(lambda: ancestry(SIBS0, "2-1a"), ["2-1a", "1-1"], id="should_extract_subsubtree"),
    pytest.param(lambda: latest(SIBS0, "1-ee"), [], id="should_gather_non_existant_leaf"),
    pytest.param(lambda: latest(SIBS0, "2-1a"), ["2-1a"], id="should_gather_leaf"),
    pytest.param(lambda: latest(SIBS0, "1-1"), ["2-1a", "2-1b"], id="shoul_gather_multiple_leaves"),
    pytest.param(
        lambda: _gather(ONE_CHILD0, ["1-1", "2-1a"]),
        ["2-1a"],
        id="should_gather_single_leaf_for_multiple_revs",
    ),
    pytest.param(
        lambda: _gather(SIBS0, ["1-1", "2-1a"]),
        ["2-1a", "2-1b"],
        id="should_gather_multiple_for_multiple_revs",
    ),
    pytest.param(
        lambda: revisions(SIBS0, "1-1"),
        {"start": 1, "ids": ["1"]},
        id="should_retrieve_full_key_path",
    ),
    pytest.param(
        lambda: revisions(SIBS0, "2-1a"),
        {"start": 2, "ids": ["1a", "1"]},
        id="should_retrieve_full_key_path_for_node",
    ),
    # Erlang lists these leaves depth-first (1a, 1b); ``leaves`` puts the winner first.
    pytest.param(
        lambda: [(leaf.pos, leaf.path) for leaf in leaves(STEMMED1)],
        [(3, ("3-1aa", "2-1a"))],
        id="should_retrieve_leaves_with_parent_node:stemmed",
    ),
    pytest.param(
        lambda: [(leaf.pos, leaf.path) for leaf in leaves(SIBS0)],
        [(2, ("2-1b", "1-1")), (2, ("2-1a", "1-1"))],
        id="should_retrieve_leaves_with_parent_node:two_child_sibs",
    ),
    pytest.param(
        lambda: [leaf.rev for leaf in leaves(STEMMED1)],
        ["3-1aa"],
        id="should_retrieve_all_leaves:stemmed",
    ),
    pytest.param(
        lambda: [leaf.rev for leaf in leaves(SIBS0)],
        ["2-1b", "2-1a"],
        id="should_retrieve_all_leaves:two_child_sibs",
    ),
    pytest.param(lambda: leaf_count(()), 0, id="should_have_no_leaves_for_empty_tree"),
    pytest.param(
        lambda: leaf_count(tree((1, n("1")))),
        1,
        id="should_have_single_leaf_for_tree_with_single_node",
    ),
    pytest.param(lambda: leaf_count(SIBS0), 2, id="should_have_two_leaves_for_tree_with_chindler_siblings"),
    pytest.param(
        lambda: leaf_count(tree((3, n("1bb")))),
        1,
        id="should_not_affect_on_leaf_counting_for_stemmed_tree",
    ),
    pytest.param(
        lambda: stem(tree(TWO_CHILD), 3),
        tree(TWO_CHILD),
        id="should_have_no_effect_for_stemming_more_levels_than_exists",
    ),
    pytest.param(lambda: stem(tree(TWO_CHILD), 1), tree((3, n("1aa"))), id="should_return_one_deepest_node"),
    pytest.param(
        lambda: stem(tree(TWO_CHILD), 2),
        tree((2, n("1a", n("1aa")))),
        id="should_return_two_deepest_nodes",
    ),
]


@pytest.mark.parametrize(("call", "expected"), COUCH_GET_CASES)
def test_couch_key_tree_queries(call: Callable[[], object], expected: object) -> None:
    assert call() == expected


# --- PouchDB: tests/unit/test.merge.js ------------------------------------------------------
#
# Hashes "2_0", "2_1", "3_1" become "20", "21", "31". Expected outcomes are CouchDB's; the
# cases where PouchDB expects something else are in POUCH_DISAGREEMENTS below.

SIMPLE = (1, n("1"))
TWO0 = (1, n("1", n("20")))
TWO1 = (1, n("1", n("21")))
NEWLEAF = (2, n("20", n("3")))
WITHNEWLEAF = (1, n("1", n("20", n("3"))))
NEWBRANCH = (1, n("1", n("20"), n("21")))
NEWDEEPBRANCH = (2, n("20", n("31")))
STEMMEDEDIT = (3, n("3"))
NEWBRANCHLEAF = (1, n("1", n("20", n("3")), n("21")))
NEWBRANCHLEAFBRANCH = (1, n("1", n("20", n("3"), n("31")), n("21")))
STEMMED3 = ((2, n("21")), (3, n("3")), (3, n("31")))
PARTIALRECOVER = ((1, n("1", n("20", n("3")))), (2, n("21")), (3, n("31")))

POUCH_MERGE_CASES = [
    pytest.param(
        MergeCase((), _path(*SIMPLE), tree(SIMPLE), NEW_LEAF),
        id="Merging a path into an empty tree is the path",
    ),
    pytest.param(
        MergeCase(tree(SIMPLE), _path(*SIMPLE), tree(SIMPLE), INTERNAL_NODE),
        id="Remerge path into path is reflexive",
    ),
    pytest.param(
        MergeCase((), _path(*TWO0), tree(TWO0), NEW_LEAF),
        id="Merging a path with multiple entries is the path",
    ),
    pytest.param(
        MergeCase(tree(TWO0), _path(*TWO0), tree(TWO0), INTERNAL_NODE),
        id="Merging a path with multiple entries is reflexive",
    ),
    pytest.param(
        MergeCase(tree(TWO0), _path(*SIMPLE), tree(TWO0), INTERNAL_NODE),
        id="Merging a subpath into a path results in the path",
    ),
    pytest.param(
        MergeCase(tree(TWO0), _path(*NEWLEAF), tree(WITHNEWLEAF), NEW_LEAF),
        id="Merging a new leaf gives us a new leaf",
    ),
    pytest.param(
        MergeCase(tree(TWO0), _path(*TWO1), tree(NEWBRANCH), NEW_BRANCH),
        id="Merging a new branch returns a proper tree",
    ),
    pytest.param(
        MergeCase(tree(TWO1), _path(*TWO0), tree(NEWBRANCH), NEW_BRANCH),
        id="Order of merging does not affect the resulting tree",
    ),
    pytest.param(
        MergeCase(tree(NEWBRANCH), _path(*NEWLEAF), tree(NEWBRANCHLEAF), NEW_LEAF),
        id="Merging a new_leaf doesnt return new_branch when branches exist",
    ),
    pytest.param(
        MergeCase(tree(NEWBRANCHLEAF), _path(*NEWDEEPBRANCH), tree(NEWBRANCHLEAFBRANCH), NEW_BRANCH),
        id="Merging a deep branch with branches works",
    ),
    pytest.param(
        MergeCase(tree(SIMPLE, STEMMEDEDIT), _path(*WITHNEWLEAF), tree(WITHNEWLEAF), NEW_LEAF),
        id="New information reconnects steming induced conflicts",
    ),
    pytest.param(
        MergeCase(tree(TWO0), _path(*NEWLEAF), tree(NEWLEAF), NEW_LEAF, limit=2),
        id="Simple stemming works",
    ),
    pytest.param(
        MergeCase(tree(NEWBRANCHLEAFBRANCH), _path(*SIMPLE), tree(*STEMMED3), INTERNAL_NODE, 1),
        id="Merge with stemming to leaves works fine",
    ),
    pytest.param(
        MergeCase(tree(*STEMMED3), _path(*WITHNEWLEAF), tree(*PARTIALRECOVER), INTERNAL_NODE),
        id="Merging unstemmed recovers as much as possible without losing info",
    ),
    pytest.param(
        # The Erlang suite's "should_merge_tree_of_odd_length" the other way round; PouchDB
        # merges the whole two-leaf tree, CouchDB (and we) take one path at a time.
        MergeCase(
            tree(TWO_CHILD),
            _path(1, n("1", n("1b"))),
            tree((1, n("1", n("1a", n("1aa")), n("1b")))),
            NEW_BRANCH,
        ),
        id="Merging tree of uneven length at node 2.",
    ),
]


@pytest.mark.parametrize("case", POUCH_MERGE_CASES)
def test_pouchdb_merge(case: MergeCase) -> None:
    test_couch_key_tree_merge(case)


POUCH_DISAGREEMENTS = [
    # PouchDB answers internal_node when the path joins nothing; couch_key_tree says new_branch.
    pytest.param(
        tree(*TWO_SIBS),
        RevPath(1, n("3")),
        DEPTH,
        (tree(*TWO_SIBS, (1, n("3"))), NEW_BRANCH),
        (tree(*TWO_SIBS, (1, n("3"))), INTERNAL_NODE),
        id="Merging a third unrelated branch leads to a conflict.",
    ),
    pytest.param(
        tree(ONE_CHILD),
        RevPath(3, n("1aa")),
        DEPTH,
        (tree(ONE_CHILD, (3, n("1aa"))), NEW_BRANCH),
        (tree(ONE_CHILD, (3, n("1aa"))), INTERNAL_NODE),
        id="Merging should create conflicts.",
    ),
    # PouchDB cuts every root-to-leaf path to the limit and re-merges the pieces; CouchDB keeps
    # a revision within the limit of *any* leaf below it, so "1" survives for the sake of 2_1.
    pytest.param(
        tree(NEWBRANCHLEAFBRANCH),
        RevPath(*SIMPLE),
        2,
        (tree(NEWBRANCHLEAFBRANCH), INTERNAL_NODE),
        (tree((1, n("1", n("21"))), (2, n("20", n("3"), n("31")))), INTERNAL_NODE),
        id="Merge with stemming works correctly for branches",
    ),
]


@pytest.mark.parametrize(("start", "path", "limit", "couchdb", "pouchdb"), POUCH_DISAGREEMENTS)
def test_pouchdb_disagreements_follow_couchdb(
    start: RevTree,
    path: RevPath,
    limit: int,
    couchdb: tuple[RevTree, MergeOutcome],
    pouchdb: tuple[RevTree, MergeOutcome],
) -> None:
    result = merge(start, path, revs_limit=limit)
    assert result == couchdb
    assert result != pouchdb


WINNER_CASES = [
    pytest.param(
        tree(
            (
                1,
                n(
                    "bfe70372c90ded1087239e5191984f76",
                    n("44d71a718b90e4696c06a90e08912c8f"),
                    n("56e657612d55ab1a402dcb281c874f2a", n("93c3db16462f656f7172ccabd3cf6cd6")),
                ),
            )
        ),
        "3-93c3db16462f656f7172ccabd3cf6cd6",
        id="winningRev returns the longest leaf",
    ),
    pytest.param(
        tree(
            (
                1,
                n(
                    "203db1a1810a838895d561f67b224b5d",
                    n("bf5e08a4f9fa6d33a53f4a00ae3ea399", n("28cd77a3ca30f79e1cfffcd6a41ca308")),
                ),
            ),
            (
                1,
                n(
                    "c6d5cce35bcfbef90b20f140d723cbdb",
                    n("1b8dfbb1267e213328920bae43f2f597"),
                    n("59ed830b84b276ab776c3c51aaf93a16", n("64a9842c6aea50bf24660378e496e853")),
                ),
            ),
        ),
        "3-64a9842c6aea50bf24660378e496e853",
        id="winningRev returns the longest leaf again",
    ),
    pytest.param(tree((1, n("1", n("a", deleted=True), n("b")))), "2-b", id="live leaf beats higher hash"),
    pytest.param(
        tree((1, n("1", n("a", n("c", deleted=True)), n("b")))),
        "2-b",
        id="live leaf beats longer deleted branch",
    ),
    pytest.param(
        tree((1, n("1", n("a", n("c", deleted=True)), n("b", deleted=True)))),
        "3-c",
        id="all deleted: longest deleted leaf wins",
    ),
    # CouchDB stores a 32-digit hash as 16 bytes, so "a0…" (0xa0) outranks "f" (0x66); an
    # ASCII comparison, as in PouchDB, would pick "2-f".
    pytest.param(
        tree((1, n("1", n("f"), n("a0" + "0" * 30)))),
        "2-a0" + "0" * 30,
        id="32-digit hashes compare as bytes",
    ),
]


@pytest.mark.parametrize(("start", "expected"), WINNER_CASES)
def test_winning_rev(start: RevTree, expected: str) -> None:
    assert winning_rev(start) == expected
    assert leaves(start)[0].rev == expected


# --- Conflicts, deletions and queries ---------------------------------------------------------

THREE_WAY = tree(
    (1, n("1", n("a"), n("b"), n("c", n("d", deleted=True)), n("e", deleted=True), n("f", n("g"))))
)


def test_three_way_conflict_lists_losers_in_couchdb_order() -> None:
    # Live leaves 3-g, 2-b, 2-a; deleted 3-d, 2-e. Live beat deleted, then pos, then hash.
    assert [leaf.rev for leaf in leaves(THREE_WAY)] == ["3-g", "2-b", "2-a", "3-d", "2-e"]
    assert winning_rev(THREE_WAY) == "3-g"
    assert not is_deleted(THREE_WAY)
    assert conflicts(THREE_WAY) == ["2-b", "2-a"]
    assert deleted_conflicts(THREE_WAY) == ["3-d", "2-e"]
    assert leaves(THREE_WAY)[0].path == ("3-g", "2-f", "1-1")


def test_three_live_branches() -> None:
    revtree = tree((1, n("1", n("a"), n("b"), n("c"))))
    assert winning_rev(revtree) == "2-c"
    assert conflicts(revtree) == ["2-b", "2-a"]
    assert deleted_conflicts(revtree) == []


def test_all_leaves_deleted() -> None:
    revtree = tree((1, n("1", n("a", deleted=True), n("b", n("c", deleted=True)))))
    assert winning_rev(revtree) == "3-c"
    assert is_deleted(revtree)
    assert conflicts(revtree) == []
    assert deleted_conflicts(revtree) == ["2-a"]


def test_empty_tree_has_no_winner() -> None:
    with pytest.raises(LocalSyncError):
        winning_rev(())
    with pytest.raises(LocalSyncError):
        is_deleted(())
    assert conflicts(()) == [] and deleted_conflicts(()) == [] and leaves(()) == []


def test_lookups() -> None:
    revtree = tree((1, n("1", n("a", n("c"), n("d", deleted=True)), n("b"), available=False)))
    assert contains(revtree, "1-1") and contains(revtree, "3-d")
    assert not contains(revtree, "2-c") and not contains(revtree, "9-a")
    assert find_node(revtree, "2-b") == n("b")
    assert find_node(revtree, "2-c") is None
    assert is_leaf(revtree, "2-b") and not is_leaf(revtree, "2-a") and not is_leaf(revtree, "7-a")
    assert ancestry(revtree, "3-d") == ["3-d", "2-a", "1-1"]
    assert revisions(revtree, "3-d") == {"start": 3, "ids": ["d", "a", "1"]}
    assert revisions(revtree, "3-d", limit=2) == {"start": 3, "ids": ["d", "a"]}
    assert revs_info(revtree, "3-d") == [
        {"rev": "3-d", "status": "deleted"},
        {"rev": "2-a", "status": "available"},
        {"rev": "1-1", "status": "missing"},
    ]
    assert latest(revtree, "2-a") == ["3-c", "3-d"]
    assert latest(revtree, "1-1") == ["3-c", "3-d", "2-b"]
    assert latest(revtree, "3-c") == ["3-c"]
    for call in (ancestry, revisions, revs_info):
        with pytest.raises(LocalSyncError):
            call(revtree, "2-c")
    with pytest.raises(LocalSyncError):
        revisions(revtree, "3-d", limit=0)
    with pytest.raises(InvalidRevision):
        contains(revtree, "2-C")


def test_common_ancestor() -> None:
    revtree = tree(
        (1, n("1", n("a", n("c"), n("d", n("e"))), n("b", available=False), available=False)),
        (2, n("f")),
    )
    assert common_ancestor(revtree, ["3-c", "4-e"]) == "2-a"
    assert common_ancestor(revtree, ["4-e", "3-c"]) == "2-a"
    assert common_ancestor(revtree, ["4-e", "3-d"]) == "3-d"
    assert common_ancestor(revtree, ["3-c", "3-d", "4-e"]) == "2-a"
    # The shared root "1-1" is known only by id, so there is no base to merge against.
    assert common_ancestor(revtree, ["3-c", "2-b"]) is None
    assert common_ancestor(revtree, ["3-c", "2-f"]) is None
    assert common_ancestor(revtree, ["3-c"]) == "3-c"
    with pytest.raises(LocalSyncError):
        common_ancestor(revtree, [])
    with pytest.raises(LocalSyncError):
        common_ancestor(revtree, ["3-c", "5-e"])


def test_missing_revs_for_revs_diff() -> None:
    revtree = tree((1, n("1", n("a", n("c", deleted=True)), n("b"), available=False)))
    # 1-1 is known only by id: CouchDB does not ask for it again (PouchDB would).
    assert missing_revs(revtree, ["1-1", "2-a", "3-c"]) == ([], [])
    # Request order, each rev once; a known hash at another generation is a different rev.
    assert missing_revs(revtree, ["4-f", "2-c", "4-f", "3-c"]) == (["4-f", "2-c"], ["3-c", "2-b"])


def test_missing_revs_possible_ancestors() -> None:
    revtree = tree((1, n("1", n("a", n("c", deleted=True)), n("b"))))
    # Leaves in doc_info order are 2-b, 3-c; CouchDB folds them into a reversed list.
    assert missing_revs(revtree, ["4-f", "4-f", "3-c", "2-e"]) == (["4-f", "2-e"], ["3-c", "2-b"])
    assert missing_revs(revtree, ["3-e"]) == (["3-e"], ["2-b"])
    assert missing_revs(revtree, ["2-e", "1-e"]) == (["2-e", "1-e"], [])
    assert missing_revs((), ["1-a", "2-b"]) == (["1-a", "2-b"], [])
    with pytest.raises(InvalidRevision):
        missing_revs(revtree, ["3-c", "nope"])


# --- Revision ids, _revisions and new revisions -----------------------------------------------

HASH32 = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("rev", "expected"),
    [
        ("1-a", (1, "a")),
        (f"12-{HASH32}", (12, HASH32)),
        ("1-" + "f" * 64, (1, "f" * 64)),
        ("2147483647-a", (2147483647, "a")),
    ],
)
def test_parse_rev(rev: str, expected: tuple[int, str]) -> None:
    assert parse_rev(rev) == expected


@pytest.mark.parametrize(
    "rev",
    [
        "",
        "1",
        "1-",
        "-a",
        "0-a",
        "01-a",
        "-1-a",
        "+1-a",
        "1-A",
        "1-xyz",
        f"1-{HASH32.upper()}",
        "1-a\n",
        " 1-a",
        "1-a-b",
        "1-" + "a" * 65,
        "2147483648-a",
        "\u0661-a",  # an Arabic-Indic one: a digit to \d, not to us
        1,
        None,
        b"1-a",
    ],
)
def test_parse_rev_rejects(rev: object) -> None:
    with pytest.raises(InvalidRevision):
        parse_rev(rev)  # type: ignore[arg-type]


def test_path_from_revisions() -> None:
    path = path_from_revisions(5, ["c", "b", "a"], deleted=True)
    assert path == RevPath(3, n("a", n("b", n("c", deleted=True), available=False), available=False))


@pytest.mark.parametrize(
    ("start", "ids"),
    [
        (3, []),
        (2, ["c", "b", "a"]),
        (0, ["a"]),
        (True, ["a"]),
        ("3", ["a"]),
        (3, "abc"),
        (3, ["a", "B"]),
        (3, ["a", 7]),
        (2**31, ["a"]),
    ],
)
def test_path_from_revisions_rejects(start: object, ids: object) -> None:
    with pytest.raises(InvalidRevision):
        path_from_revisions(start, ids, deleted=False)  # type: ignore[arg-type]


def test_path_from_doc() -> None:
    doc = {"_id": "visit:1", "_rev": "3-c", "_revisions": {"start": 3, "ids": ["c", "b"]}}
    assert path_from_doc(doc) == RevPath(2, n("b", n("c"), available=False))
    assert path_from_doc({"_rev": "3-c", "_deleted": True}) == RevPath(3, n("c", deleted=True))


@pytest.mark.parametrize(
    ("doc", "error", "field"),
    [
        ({}, InvalidRevision, "_rev"),
        ({"_rev": 3}, InvalidRevision, "_rev"),
        ({"_rev": "3-C"}, InvalidRevision, "_rev"),
        ({"_rev": "3-c", "_deleted": "yes"}, InvalidDocument, "_deleted"),
        ({"_rev": "3-c", "_revisions": ["c"]}, InvalidRevision, "_revisions"),
        (
            {"_rev": "3-c", "_revisions": {"start": 4, "ids": ["c", "b"]}},
            InvalidRevision,
            "_revisions",
        ),
        (
            {"_rev": "3-c", "_revisions": {"start": 3, "ids": ["d", "b"]}},
            InvalidRevision,
            "_revisions",
        ),
        ({"_rev": "3-c", "_revisions": {"start": 3, "ids": []}}, InvalidRevision, "_revisions"),
        (
            {"_rev": "3-c", "_revisions": {"start": "3", "ids": ["c"]}},
            InvalidRevision,
            "_revisions",
        ),
        ({"_rev": "3-c", "_revisions": {"start": 3, "ids": "c"}}, InvalidRevision, "_revisions"),
        (
            {"_rev": "3-c", "_revisions": {"start": 3, "ids": ["c", "B"]}},
            InvalidRevision,
            "_revisions",
        ),
    ],
    ids=[
        "no _rev",
        "_rev not a string",
        "bad _rev",
        "_deleted not a boolean",
        "_revisions not an object",
        "_revisions start differs from _rev",
        "_revisions newest id differs from _rev",
        "_revisions without ids",
        "_revisions start not an integer",
        "_revisions ids not a list",
        "_revisions with a bad ancestor id",
    ],
)
def test_path_from_doc_rejects(doc: dict[str, object], error: type[SyncError], field: str) -> None:
    with pytest.raises(error) as raised:
        path_from_doc(doc)
    assert raised.value.field == field


def test_new_rev_hash_is_md5_of_canonical_json() -> None:
    body = {"b": [1, "é"], "a": {"y": None, "x": True}}
    payload = '[false,"1-a",{"a":{"x":true,"y":null},"b":[1,"é"]}]'.encode()
    assert new_rev_hash(parent="1-a", deleted=False, body=body) == hashlib.md5(payload).hexdigest()
    reordered = {"a": {"x": True, "y": None}, "b": [1, "é"]}
    assert new_rev_hash(parent="1-a", deleted=False, body=reordered) == new_rev_hash(
        parent="1-a", deleted=False, body=body
    )
    variants = {
        new_rev_hash(parent="1-a", deleted=False, body=body),
        new_rev_hash(parent="1-a", deleted=True, body=body),
        new_rev_hash(parent=None, deleted=False, body=body),
        new_rev_hash(parent="1-a", deleted=False, body={**body, "c": 1}),
    }
    assert len(variants) == 4
    assert new_rev(parent=None, deleted=False, body={}).startswith("1-")
    assert new_rev(parent=f"7-{HASH32}", deleted=True, body={}).startswith("8-")


@pytest.mark.parametrize(
    ("parent", "body", "error"),
    [
        ("1-A", {"note": "child seen alone"}, InvalidRevision),
        (None, {"note": "child seen alone", "x": float("nan")}, InvalidDocument),
        (None, {"note": "child seen alone", "x": object()}, InvalidDocument),
        (None, {"note": "child seen alone \ud800"}, InvalidDocument),
        (None, {1: "child seen alone", "b": 2}, InvalidDocument),
    ],
    ids=["bad parent", "NaN", "not JSON", "lone surrogate", "mixed key types"],
)
def test_new_rev_hash_rejects(parent: str | None, body: dict[object, object], error: type) -> None:
    with pytest.raises(error) as raised:
        new_rev_hash(parent=parent, deleted=False, body=body)  # type: ignore[arg-type]
    assert "child seen alone" not in str(raised.value)


# --- Merging: values, grafting, limits --------------------------------------------------------


def test_merge_prefers_the_side_that_holds_the_body() -> None:
    start = tree((1, n("a", n("b", available=False), available=False)))
    # b arrives with its body (deleted); a is still known only by id on both sides.
    path = RevPath(1, n("a", n("b", deleted=True), available=False))
    result, outcome = merge(start, path, revs_limit=DEPTH)
    assert outcome is INTERNAL_NODE
    assert result == tree((1, n("a", n("b", deleted=True), available=False)))
    # Once held, a body is never replaced by a stub, nor its deleted flag by a stub's.
    stub = RevPath(1, n("a", n("b", available=False), available=False))
    assert merge(result, stub, revs_limit=DEPTH) == (result, INTERNAL_NODE)


def test_merge_grafts_a_long_history_onto_a_stemmed_tree() -> None:
    start = tree((3, n("c", n("d"))))
    path = path_from_revisions(5, ["e", "d", "c", "b", "a"], deleted=False)
    assert merge(start, path, revs_limit=2) == (tree((4, n("d", n("e")))), NEW_LEAF)
    assert merge(start, path, revs_limit=DEPTH) == (
        tree((1, n("a", n("b", n("c", n("d", n("e"))), available=False), available=False))),
        NEW_LEAF,
    )


def test_merge_grafts_a_short_history_below_the_root() -> None:
    start = tree((3, n("c", n("d"))))
    path = path_from_revisions(5, ["e", "d"], deleted=False)
    assert merge(start, path, revs_limit=DEPTH) == (tree((3, n("c", n("d", n("e"))))), NEW_LEAF)
    sibling = path_from_revisions(5, ["f", "d"], deleted=False)
    result, outcome = merge(merge(start, path, revs_limit=DEPTH)[0], sibling, revs_limit=DEPTH)
    assert outcome is NEW_BRANCH and conflicts(result) == ["5-e"] and winning_rev(result) == "5-f"


def test_a_stemmed_away_revision_comes_back_as_a_branch() -> None:
    # As in CouchDB: once 2-b is stemmed, _revs_diff reports it missing and a peer with a
    # longer history sends it back, where it joins nothing. Keep revs_limit no lower than
    # the peers' (PouchDB's default is 1000).
    start = tree((3, n("c", n("d"))))
    old = path_from_revisions(2, ["b", "a"], deleted=False)
    assert missing_revs(start, ["2-b"]) == (["2-b"], [])
    result, outcome = merge(start, old, revs_limit=2)
    assert outcome is NEW_BRANCH
    assert result == tree((1, n("a", n("b"), available=False)), (3, n("c", n("d"))))
    assert conflicts(result) == ["2-b"]


def test_nodes_compare_hash_and_print_by_value() -> None:
    one = n("1", n("a", deleted=True), n("b", available=False))
    same = n("1", n("a", deleted=True), n("b", available=False))
    assert one == same and hash(one) == hash(same) and one is not same
    assert one != n("1", n("a"), n("b", available=False))
    assert one != n("1", n("a", deleted=True))
    assert n("1") != "1"
    assert repr(one) == ("RevNode('1', children=(RevNode('a', deleted=True), RevNode('b', available=False)))")
    assert repr(n("1", n("a"))) == "RevNode('1', children=(RevNode('a'),))"


def test_a_batch_is_merged_then_stemmed_once() -> None:
    # couch_db_updater merges every revision of a document in a batch, then stems once.
    first = path_from_revisions(2, ["b", "a"], deleted=False)
    second = path_from_revisions(4, ["d", "c", "b"], deleted=False)
    batch, outcome = merge((), first, revs_limit=None)
    assert outcome is NEW_LEAF and batch == tree((1, n("a", n("b"), available=False)))
    batch, outcome = merge(batch, second, revs_limit=None)
    assert outcome is NEW_LEAF and leaves(batch)[0].path == ("4-d", "3-c", "2-b", "1-a")
    assert stem(batch, 2) == tree((3, n("c", n("d"), available=False)))


def test_merge_refuses_trees_and_bad_limits() -> None:
    with pytest.raises(LocalSyncError):
        merge((), RevPath(1, n("1", n("a"), n("b"))), revs_limit=DEPTH)
    with pytest.raises(LocalSyncError):
        merge((), RevPath(1, n("1")), revs_limit=0)
    with pytest.raises(LocalSyncError):
        merge((), RevPath(1, n("1")), revs_limit=True)
    with pytest.raises(LocalSyncError):
        stem(tree(ONE), 0)


def test_a_history_thousands_of_revisions_deep_needs_no_recursion() -> None:
    ids = [f"{i:032x}" for i in range(5000, 0, -1)]
    deep, outcome = merge((), path_from_revisions(5000, ids, deleted=False), revs_limit=1000)
    assert outcome is NEW_LEAF and deep[0].pos == 4001
    longer = path_from_revisions(5001, [f"{5001:032x}", *ids], deleted=False)
    deeper, outcome = merge(deep, longer, revs_limit=1000)
    assert outcome is NEW_LEAF and deeper[0].pos == 4002
    assert deeper != deep and hash(deeper) != hash(deep)
    assert from_json(json.loads(json.dumps(to_json(deeper)))) == deeper
    assert len(ancestry(deeper, winning_rev(deeper))) == 1000
    assert repr(deeper).count("RevNode(") == 1000
    assert stem(deeper, 3) == tree((4999, n(ids[1], n(ids[0], n(f"{5001:032x}")), available=False)))
    assert common_ancestor(deeper, [winning_rev(deeper)]) == winning_rev(deeper)


# --- Storage form ---------------------------------------------------------------------------


def test_to_json_is_flat_preorder() -> None:
    revtree = tree((1, n("1", n("b", deleted=True), n("a"), available=False)), (3, n("c")))
    assert to_json(revtree) == [
        [1, "1", 2, -1],
        [2, "a", 0, 0],
        [2, "b", 1, 0],
        [3, "c", 0, -1],
    ]
    assert from_json(to_json(revtree)) == revtree


@pytest.mark.parametrize(
    "data",
    [
        {},
        [[1, "a", 0]],
        [[0, "a", 0, -1]],
        [[1, "A", 0, -1]],
        [[1, "a", 4, -1]],
        [[1, "a", 0, 0]],
        [[1, "a", 0, -1], [3, "b", 0, 0]],
        [[1, "a", 0, -1], [2, "b", 0, 0], [2, "b", 0, 0]],
        [[True, "a", 0, -1]],
        [[1, "a", 0, -1], [2, "b", 0, 2]],
    ],
)
def test_from_json_rejects(data: object) -> None:
    with pytest.raises(LocalSyncError):
        from_json(data)


# --- Properties -------------------------------------------------------------------------------
#
# A "universe" is one consistent history: each revision has exactly one parent (or none),
# one generation and one deleted flag, as real revision ids guarantee. Peers see windows of
# it: paths ending at some revision, reaching back some way, as ``_revisions`` sends them.


@dataclass(frozen=True)
class Universe:
    hashes: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for a root
    deleted: tuple[bool, ...]

    def chain(self, index: int) -> list[int]:
        """Indexes from the root down to ``index``."""
        chain = [index]
        while self.parents[chain[-1]] != -1:
            chain.append(self.parents[chain[-1]])
        return chain[::-1]

    def window(self, index: int, length: int) -> RevPath:
        chain = self.chain(index)[-length:]
        ids = [self.hashes[i] for i in reversed(chain)]
        return path_from_revisions(len(self.chain(index)), ids, deleted=self.deleted[index])


@st.composite
def universes(draw: st.DrawFn) -> Universe:
    # One integer per revision keeps generation cheap: two bits pick an md5-like or a short
    # hash and the deleted flag, the rest picks the parent (or none: another root).
    codes = draw(st.lists(st.integers(0, 2**10), min_size=1, max_size=24))
    parents = tuple(-1 if i == 0 else (code >> 2) % (i + 1) - 1 for i, code in enumerate(codes))
    hashes = tuple(
        f"{i:x}" if code & 1 else hashlib.md5(str(i).encode()).hexdigest() for i, code in enumerate(codes)
    )
    deleted = tuple(bool(code & 2) for code in codes)
    return Universe(hashes, parents, deleted)


@st.composite
def windows(draw: st.DrawFn) -> tuple[Universe, list[RevPath]]:
    universe = draw(universes())
    size = len(universe.hashes)
    picks = draw(st.lists(st.integers(0, 2**12), min_size=1, max_size=10))
    paths = []
    for pick in picks:
        index, reach = pick % size, pick // size % 30 + 1
        paths.append(universe.window(index, min(reach, len(universe.chain(index)))))
    return universe, paths


def _oracle_winner(revtree: RevTree) -> str:
    best = max(leaves(revtree), key=lambda leaf: (not leaf.deleted, leaf.pos, leaf.hash))
    return best.rev


UNSTEMMED = 10_000
PROPERTIES = settings(max_examples=200, deadline=None)


@PROPERTIES
@given(windows(), st.randoms(use_true_random=False))
def test_merge_order_does_not_matter(sample: tuple[Universe, list[RevPath]], rng: random.Random) -> None:
    universe, paths = sample
    shuffled = rng.sample(paths, len(paths))
    first, second = fold_merge((), paths, UNSTEMMED), fold_merge((), shuffled, UNSTEMMED)
    assert first == second
    assert winning_rev(first) == winning_rev(second)
    assert conflicts(first) == conflicts(second)
    # Nothing lost, nothing invented, and every edge is one of the universe's.
    index = {h: i for i, h in enumerate(universe.hashes)}
    wanted = {(step.pos, step.node.hash) for path in paths for step in _chain_nodes(path)}
    seen: set[tuple[int, str]] = set()
    for leaf in leaves(first):
        for child, parent in zip(leaf.path, leaf.path[1:], strict=False):
            assert universe.parents[index[parse_rev(child)[1]]] == index[parse_rev(parent)[1]]
        seen.update(parse_rev(rev) for rev in leaf.path)
    assert seen == wanted


def _chain_nodes(path: RevPath) -> list[RevPath]:
    out, node, pos = [], path.node, path.pos
    while True:
        out.append(RevPath(pos, node))
        if not node.children:
            return out
        node, pos = node.children[0], pos + 1


@PROPERTIES
@given(windows())
def test_merge_is_idempotent(sample: tuple[Universe, list[RevPath]]) -> None:
    _universe, paths = sample
    merged = fold_merge((), paths, UNSTEMMED)
    for path in paths:
        assert merge(merged, path, revs_limit=UNSTEMMED) == (merged, INTERNAL_NODE)


@PROPERTIES
@given(windows(), st.integers(1, 6))
def test_a_stemmed_tree_reabsorbs_its_own_leaf_paths(
    sample: tuple[Universe, list[RevPath]], limit: int
) -> None:
    # should_merge_tree_to_itself, generalised. A merge can leave a tree deeper than the
    # limit (when it joined overlapping branches, stem/2 falls back to repair_tree/2, which
    # does not stem again), so the property holds once the tree is stemmed.
    _universe, paths = sample
    settled = stem(fold_merge((), paths, limit), limit)
    assert stem(settled, limit) == settled
    for leaf in leaves(settled):
        own = path_from_revisions(leaf.pos, [parse_rev(r)[1] for r in leaf.path], deleted=leaf.deleted)
        assert merge(settled, own, revs_limit=limit) == (settled, INTERNAL_NODE)


@PROPERTIES
@given(windows(), st.randoms(use_true_random=False))
def test_winner_is_deterministic(sample: tuple[Universe, list[RevPath]], rng: random.Random) -> None:
    _universe, paths = sample
    merged = fold_merge((), rng.sample(paths, len(paths)), UNSTEMMED)
    winner = winning_rev(merged)
    ranked = leaves(merged)
    assert winner == ranked[0].rev
    assert is_deleted(merged) == ranked[0].deleted
    assert sorted([winner, *conflicts(merged), *deleted_conflicts(merged)]) == sorted(
        leaf.rev for leaf in ranked
    )
    if all(len(leaf.hash) == len(ranked[0].hash) for leaf in ranked):
        # Equal-length lowercase hex: CouchDB's byte order is plain string order.
        assert winner == _oracle_winner(merged)


@PROPERTIES
@given(
    st.integers(2, 40),
    st.integers(1, 8),
    st.data(),
)
def test_stemming_commutes_with_merging_along_one_history(
    length: int, limit: int, data: st.DataObject
) -> None:
    # CouchDB promises this only for a path that reaches the revisions the limit keeps: an
    # older window merged into a stemmed tree comes back as a separate branch.
    ids = [hashlib.md5(str(i).encode()).hexdigest() for i in range(1, length + 1)]
    known = data.draw(st.integers(1, length), label="tree leaf")
    leaf = data.draw(st.integers(max(1, known - limit + 1), length), label="path leaf")
    top = data.draw(st.integers(1, leaf), label="path root")
    full = path_from_revisions(known, ids[:known][::-1], deleted=False)
    window = path_from_revisions(leaf, ids[top - 1 : leaf][::-1], deleted=False)
    unstemmed, _ = merge((), full, revs_limit=UNSTEMMED)
    stemmed = stem(unstemmed, limit)
    assert merge(stemmed, window, revs_limit=limit) == merge(unstemmed, window, revs_limit=limit)
    assert merge(stemmed, window, revs_limit=limit)[0] == stem(
        merge(unstemmed, window, revs_limit=UNSTEMMED)[0], limit
    )


@PROPERTIES
@given(windows(), st.integers(1, 20))
def test_stemming_keeps_leaves_and_shortens_paths(sample: tuple[Universe, list[RevPath]], limit: int) -> None:
    # couch_key_tree_prop_tests.erl: stemming keeps every leaf, never lengthens a path, keeps
    # revisions unique, and changes nothing when the limit exceeds the depth.
    _universe, paths = sample
    merged = fold_merge((), paths, UNSTEMMED)
    stemmed = stem(merged, limit)
    before = {leaf.rev: leaf for leaf in leaves(merged)}
    after = {leaf.rev: leaf for leaf in leaves(stemmed)}
    assert before.keys() == after.keys()
    assert all(len(after[rev].path) <= len(before[rev].path) for rev in before)
    assert all(len(after[rev].path) >= min(limit, len(before[rev].path)) for rev in before)
    nodes = [node for node in to_json(stemmed)]
    assert len({(pos, h) for pos, h, _flags, _parent in nodes}) == len(nodes)
    deepest = max(len(leaf.path) for leaf in before.values())
    assert stem(merged, deepest) == merged
    assert leaf_count(stemmed) == len(after)


@PROPERTIES
@given(windows(), st.integers(1, 5))
def test_storage_round_trip(sample: tuple[Universe, list[RevPath]], limit: int) -> None:
    _universe, paths = sample
    for revtree in (fold_merge((), paths, UNSTEMMED), fold_merge((), paths, limit)):
        stored = json.dumps(to_json(revtree), separators=(",", ":"))
        assert from_json(json.loads(stored)) == revtree
        assert to_json(from_json(json.loads(stored))) == to_json(revtree)


@PROPERTIES
@given(windows())
def test_revs_diff_and_lookups_agree_with_the_tree(sample: tuple[Universe, list[RevPath]]) -> None:
    universe, paths = sample
    merged = fold_merge((), paths, UNSTEMMED)
    present = sorted({rev for leaf in leaves(merged) for rev in leaf.path})
    assert missing_revs(merged, present) == ([], [])
    for rev in present:
        assert contains(merged, rev)
        assert ancestry(merged, rev)[0] == rev
        assert all(contains(merged, leaf) for leaf in latest(merged, rev))
    absent = [f"{len(universe.chain(i)) + 1}-{h}" for i, h in enumerate(universe.hashes)]
    missing, ancestors = missing_revs(merged, absent)
    assert missing == absent
    highest = max(parse_rev(rev)[0] for rev in absent)
    assert ancestors == [leaf.rev for leaf in reversed(leaves(merged)) if leaf.pos < highest]


# --- Differential: a literal transliteration of couch_key_tree.erl ----------------------------
#
# Recursive and list-based like the Erlang, clause by clause, so that the iterative version in
# ``sync`` can be checked against it on arbitrary forests, duplicated hashes included (which
# send stem/2 down repair_tree/2). A value is ``(deleted, available)``.

ErlNode = tuple[str, tuple[bool, bool], list["ErlNode"]]
ErlTree = list[tuple[int, ErlNode]]


class _Fail(Exception):
    pass


class _DupeKeys(Exception):
    pass


def _hk(key: str) -> bytes:
    return bytes.fromhex(key) if len(key) == 32 else key.encode()


def _erl_value(value: tuple[bool, bool]) -> tuple[int, bool]:
    return (0, value[0]) if value[1] else (1, False)


def _erl_term(node: ErlNode) -> tuple[object, ...]:
    key, value, children = node
    return (_hk(key), _erl_value(value), [_erl_term(child) for child in children])


def _erl_sort(trees: ErlTree) -> ErlTree:
    return sorted(trees, key=lambda t: (t[0], _erl_term(t[1])))


def _value_pref(existing: tuple[bool, bool], incoming: tuple[bool, bool]) -> tuple[bool, bool]:
    if existing[1]:
        return existing
    return incoming if incoming[1] else existing


def erl_merge(tree: ErlTree, path: tuple[int, ErlNode]) -> tuple[ErlTree, str]:
    merged, result = _erl_merge_tree(tree, path, [])
    return _erl_sort(merged), result


def _erl_merge_tree(tree: ErlTree, path: tuple[int, ErlNode], acc: ErlTree) -> tuple[ErlTree, str]:
    if not tree:
        return ([path], "new_leaf") if not acc else ([path, *acc], "new_branch")
    (depth, nodes), rest = tree[0], tree[1:]
    idepth, inode = path
    try:
        merged, result = _erl_merge_at([nodes], depth - idepth, [inode])
    except _Fail:
        return _erl_merge_tree(rest, path, [(depth, nodes), *acc])
    [single] = merged
    return [*rest, (min(depth, idepth), single), *acc], result


def _erl_merge_at(nodes: list[ErlNode], pos: int, inodes: list[ErlNode]) -> tuple[list[ErlNode], str]:
    if not inodes or not nodes:
        raise _Fail
    if pos > 0:
        ik, iv, isub = inodes[0]
        if not isub:
            raise _Fail
        merged, result = _erl_merge_at(nodes, pos - 1, isub)
        return [(ik, iv, merged)], result
    if pos < 0:
        (k, v, sub), sibs = nodes[0], nodes[1:]
        try:
            merged, result = _erl_merge_at(sub, pos + 1, inodes)
            return [(k, v, merged), *sibs], result
        except _Fail:
            merged, result = _erl_merge_at(sibs, pos, inodes)
            return [(k, v, sub), *merged], result
    (k, v1, sub), (ik, v2, isub) = nodes[0], inodes[0]
    if k == ik:
        merged, result = _erl_merge_extend(sub, isub)
        return [(k, _value_pref(v1, v2), merged), *nodes[1:]], result
    if _hk(k) > _hk(ik):
        raise _Fail
    merged, result = _erl_merge_at(nodes[1:], 0, inodes)
    return [nodes[0], *merged], result


def _erl_merge_extend(a: list[ErlNode], b: list[ErlNode]) -> tuple[list[ErlNode], str]:
    if not a and b:
        return b, "new_leaf"
    if not b:
        return a, "internal_node"
    (ka, va, suba), (kb, vb, subb) = a[0], b[0]
    if ka == kb:
        merged, result = _erl_merge_extend(suba, subb)
        return [(ka, _value_pref(va, vb), merged), *a[1:]], result
    if _hk(ka) > _hk(kb):
        return [b[0], *a], "new_branch"
    merged, result = _erl_merge_extend(a[1:], b)
    return [a[0], *merged], result if len(merged) == len(a[1:]) else "new_branch"


def erl_stem(trees: ErlTree, limit: int) -> ErlTree:
    try:
        seen: set[str] = set()
        branches: ErlTree = []
        for depth, child in trees:
            found = _erl_stem_node(depth, child, limit, seen)
            new = [(depth, found[2]), *found[3]] if len(found) == 4 else found[2]
            branches = [*new, *branches]
        return _erl_sort(branches)
    except _DupeKeys:
        return _erl_repair(trees, limit)


def _erl_check(key: str, seen: set[str]) -> None:
    if key in seen:
        raise _DupeKeys
    seen.add(key)


def _erl_stem_node(depth: int, node: ErlNode, limit: int, seen: set[str]) -> tuple[Any, ...]:
    key, value, children = node
    _erl_check(key, seen)
    if not children:
        return (seen, limit - 1, node, [])
    limit_pos, kept, branches = -1, list[ErlNode](), list[tuple[int, ErlNode]]()
    for child in children:
        found = _erl_stem_node(depth + 1, child, limit, seen)
        limit_pos = max(found[1], limit_pos)
        if len(found) == 4:
            kept = [found[2], *kept]
            branches = [*found[3], *branches]
        else:
            branches = [*found[2], *branches]
    if limit_pos > 0 and kept:
        return (seen, limit_pos - 1, (key, value, kept[::-1]), branches)
    if limit_pos == 0 and kept:
        return (seen, -1, [*((depth + 1, child) for child in kept[::-1]), *branches])
    assert limit_pos < 0 and not kept
    return (seen, limit_pos - 1, branches)


def _erl_leafs_full(trees: ErlTree) -> list[tuple[int, list[tuple[str, tuple[bool, bool]]]]]:
    acc: list[tuple[int, list[tuple[str, tuple[bool, bool]]]]] = []
    for pos, tree_ in trees:
        acc = _erl_leafs_simple(pos, [tree_], []) + acc
    return acc


def _erl_leafs_simple(
    pos: int, nodes: list[ErlNode], path: list[tuple[str, tuple[bool, bool]]]
) -> list[tuple[int, list[tuple[str, tuple[bool, bool]]]]]:
    out = []
    for key, value, sub in nodes:
        if not sub:
            out.append((pos, [(key, value), *path]))
        else:
            out += _erl_leafs_simple(pos + 1, sub, [(key, value), *path])
    return out


def _erl_repair(trees: ErlTree, limit: int) -> ErlTree:
    paths = sorted(
        ((pos + 1 - len(path[:limit]), path[:limit]) for pos, path in _erl_leafs_full(trees)),
        key=lambda p: (p[0], [(_hk(k), _erl_value(v)) for k, v in p[1]]),
    )
    result: ErlTree = []
    for start, path in paths:
        single: list[ErlNode] = []
        for key, value in path:
            single = [(key, value, single)]
        result, _ = erl_merge(result, (start, single[0]))
    return result


def _to_erl(revtree: RevTree) -> ErlTree:
    def node(revnode: RevNode) -> ErlNode:
        kids = [node(child) for child in revnode.children]
        return (revnode.hash, (revnode.deleted, revnode.available), kids)

    return [(branch.pos, node(branch.node)) for branch in revtree]


KEYS = ["1", "2", "a", "b", "c", "e", "1a", "2b", HASH32, "f" + HASH32[1:]]


@st.composite
def erl_nodes(draw: st.DrawFn, depth: int) -> RevNode:
    key = draw(st.sampled_from(KEYS))
    children = []
    if depth > 0:
        for kid in draw(st.lists(erl_nodes(depth - 1), max_size=3, unique_by=lambda k: k.hash)):
            children.append(kid)
    return RevNode(key, draw(st.booleans()), draw(st.booleans()), tuple(children))


@st.composite
def forests(draw: st.DrawFn) -> RevTree:
    branches = draw(
        st.lists(st.tuples(st.integers(1, 4), erl_nodes(3)), max_size=3, unique_by=lambda b: b[0])
    )
    return canonical(RevPath(pos, node) for pos, node in branches)


@st.composite
def erl_paths(draw: st.DrawFn) -> RevPath:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5))
    flags = draw(st.lists(st.booleans(), min_size=2 * len(keys), max_size=2 * len(keys)))
    node: RevNode | None = None
    for i, key in enumerate(reversed(keys)):
        node = RevNode(key, flags[2 * i], flags[2 * i + 1], () if node is None else (node,))
    assert node is not None
    return RevPath(draw(st.integers(1, 5)), node)


@PROPERTIES
@given(forests(), erl_paths(), st.integers(1, 4))
def test_merge_and_stem_match_the_erlang_clauses(start: RevTree, path: RevPath, limit: int) -> None:
    # merge/2 alone, and merge_and_stem/2 of the eunit suite: merge/2, then stem/2.
    erl_tree, erl_outcome = erl_merge(_to_erl(start), _to_erl((path,))[0])
    merged, outcome = merge(start, path, revs_limit=None)
    assert (_to_erl(merged), outcome.value) == (erl_tree, erl_outcome)
    merged, outcome = merge(start, path, revs_limit=limit)
    assert (_to_erl(merged), outcome.value) == (erl_stem(erl_tree, limit), erl_outcome)
    assert _to_erl(stem(start, limit)) == erl_stem(_to_erl(start), limit)


@PROPERTIES
@given(windows(), st.integers(1, 6), st.booleans(), st.data())
def test_stored_form_shortcuts_answer_as_the_parsed_tree(
    sample: tuple[Universe, list[RevPath]], limit: int, stemmed: bool, data: st.DataObject
) -> None:
    # The server answers pulls from the stored JSON without parsing single-path trees; for
    # every tree (single paths, branches, stemmed, deleted leaves) the answers must be exactly
    # those of the parsed tree, errors included.
    universe, paths = sample
    merged = fold_merge((), paths, UNSTEMMED)
    revtree = stem(merged, limit) if stemmed else merged
    stored = json.loads(json.dumps(to_json(revtree)))
    assert stored_leaf_revs(stored) == [leaf.rev for leaf in leaves(revtree)]
    known = sorted({rev for leaf in leaves(revtree) for rev in leaf.path})
    strangers = [f"{len(universe.hashes) + 1}-{universe.hashes[0]}", f"1-{'f' * 32}"]
    for rev in [data.draw(st.sampled_from(known)), *strangers]:
        try:
            expected: object = revisions(revtree, rev)
        except LocalSyncError as exc:
            expected = type(exc)
        try:
            got: object = stored_revisions(stored, rev)
        except LocalSyncError as exc:
            got = type(exc)
        assert got == expected
        assert stored_latest(stored, rev) == latest(revtree, rev)


def test_stored_form_shortcuts_on_a_single_path() -> None:
    revtree = tree((3, n("c", n("d", n("e", deleted=True)))))
    stored = to_json(revtree)
    assert stored_leaf_revs(stored) == ["5-e"]
    assert stored_revisions(stored, "5-e") == {"start": 5, "ids": ["e", "d", "c"]}
    assert stored_revisions(stored, "4-d") == {"start": 4, "ids": ["d", "c"]}
    assert stored_latest(stored, "3-c") == ["5-e"]
    assert stored_latest(stored, "3-f") == []
    with pytest.raises(LocalSyncError):
        stored_revisions(stored, "2-b")
    with pytest.raises(InvalidRevision):
        stored_revisions(stored, "nonsense")
    with pytest.raises(LocalSyncError):
        stored_leaf_revs([[1, "a", 0, -1], [3, "b", 0, 0]])  # malformed: falls back and refuses
