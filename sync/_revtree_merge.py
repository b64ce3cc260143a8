"""CouchDB's key-tree merge, stemming and leaf removal (couch_key_tree.erl), without recursion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

from ._errors import LocalSyncError
from ._revtree_model import (
    MergeOutcome,
    RevNode,
    RevPath,
    RevTree,
    format_rev,
    hash_key,
    parse_rev,
    root_key,
    value_key,
    walk,
)

# A node of a path being merged, without children: (hash, deleted, available).
_Value: TypeAlias = tuple[str, bool, bool]
# One root-to-leaf path ready to be merged again: (generation of its root, values root first).
_Flat: TypeAlias = tuple[int, list[_Value]]


def merge(tree: RevTree, path: RevPath, *, revs_limit: int | None) -> tuple[RevTree, MergeOutcome]:
    """Merge ``path`` into ``tree``, then stem the result to ``revs_limit`` revisions.

    This is couch_key_tree:merge/2 followed by stem/2. A path whose root lies above or below
    a branch's root still joins that branch where they share a revision. A node present on
    both sides keeps the tree's value unless only the path holds its body. CouchDB's updater
    merges every revision of a document in a batch and then stems once: pass
    ``revs_limit=None`` to skip stemming, then call ``stem``. Raises LocalSyncError if
    ``path`` branches or ``revs_limit`` is below 1.
    """
    if revs_limit is not None:
        _check_limit(revs_limit)
    merged, outcome = _merge_path(tree, path.pos, _path_values(path))
    return (merged if revs_limit is None else stem(merged, revs_limit)), outcome


def stem(tree: RevTree, depth: int) -> RevTree:
    """couch_key_tree:stem/2: keep the revisions among the last ``depth`` of some leaf's history.

    A revision stays if a leaf below it is fewer than ``depth`` generations away, so with
    branches a path can stay longer than ``depth``; a kept revision whose parent goes becomes
    a root. If a hash occurs twice in the tree
    (a merge joined two branches that overlapped) CouchDB instead truncates every root-to-leaf
    path to ``depth`` and merges the paths afresh; so do we. Raises LocalSyncError if
    ``depth`` is below 1.
    """
    _check_limit(depth)
    seen: set[str] = set()
    for _pos, trail in walk(tree):
        if trail[-1].hash in seen:
            return _rebuild(_couch_sorted(_leaf_paths(tree, depth)))
        seen.add(trail[-1].hash)
    roots: list[RevPath] = []
    for branch in tree:
        _stem_branch(branch, depth, roots)
    return tuple(sorted(roots, key=root_key))


def remove_leaves(tree: RevTree, revs: Iterable[str]) -> tuple[RevTree, list[str]]:
    """couch_key_tree:remove_leafs/2 (purge): drop the branches ending in the given leaves.

    Returns the rebuilt tree and the revisions actually removed, in CouchDB's order; revs
    that are not leaves are ignored. Raises InvalidRevision for a malformed rev.
    """
    wanted = [parse_rev(rev) for rev in revs]
    kept: list[_Flat] = []
    removed: list[str] = []
    for start, values in _leaf_paths(tree, None):
        leaf = (start + len(values) - 1, values[-1][0])
        if leaf in wanted:
            wanted.remove(leaf)
            removed.insert(0, format_rev(*leaf))
        else:
            kept.append((start, values))
    return _rebuild(_couch_sorted(kept)), removed


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise LocalSyncError("a revs limit must be an integer of at least 1")


def _path_values(path: RevPath) -> list[_Value]:
    values: list[_Value] = []
    node: RevNode | None = path.node
    while node is not None:
        if len(node.children) > 1:
            raise LocalSyncError("merge takes a single path, not a tree with branches")
        values.append((node.hash, node.deleted, node.available))
        node = node.children[0] if node.children else None
    return values


def _chain(values: Sequence[_Value], below: RevNode | None = None) -> RevNode:
    node = below
    for rev_hash, deleted, available in reversed(values):
        node = RevNode(rev_hash, deleted, available, () if node is None else (node,))
    assert node is not None
    return node


def _prefer(node: RevNode, value: _Value) -> tuple[bool, bool]:
    # value_pref/2: a stored body beats a missing one; between equals the tree's value stays.
    if node.available or not value[2]:
        return node.deleted, node.available
    return value[1], True


def _merge_path(tree: RevTree, ipos: int, values: list[_Value]) -> tuple[RevTree, MergeOutcome]:
    """merge/2 (merge_tree/3): join the first branch the path can join, else add a root."""
    if not tree:
        return (RevPath(ipos, _chain(values)),), MergeOutcome.NEW_LEAF
    for index, branch in enumerate(tree):
        joined = _merge_branch(branch, ipos, values)
        if joined is not None:
            rest = (*tree[:index], joined[0], *tree[index + 1 :])
            return tuple(sorted(rest, key=root_key)), joined[1]
    added = (*tree, RevPath(ipos, _chain(values)))
    return tuple(sorted(added, key=root_key)), MergeOutcome.NEW_BRANCH


def _merge_branch(branch: RevPath, ipos: int, values: list[_Value]) -> tuple[RevPath, MergeOutcome] | None:
    """merge_at/3 on one branch, or None where CouchDB's answer is ``fail``."""
    offset = branch.pos - ipos
    if offset >= 0:
        # The branch starts at or below the path's root: step down the path to its level.
        if offset >= len(values) or values[offset][0] != branch.node.hash:
            return None
        node, outcome = _extend(branch.node, values, offset)
        return RevPath(ipos, _chain(values[:offset], node)), outcome
    route = _locate(branch.node, -offset, values[0][0])
    if route is None:
        return None
    spine = [branch.node]
    for index in route:
        spine.append(spine[-1].children[index])
    node, outcome = _extend(spine[-1], values, 0)
    for parent, index in zip(reversed(spine[:-1]), reversed(route), strict=True):
        node = _replace_child(parent, index, node)
    return RevPath(branch.pos, node), outcome


def _locate(root: RevNode, depth: int, rev_hash: str) -> list[int] | None:
    """Child indexes from ``root`` to the first node ``depth`` levels down with ``rev_hash``.

    Depth-first like merge_at/3 with a negative offset, including its early exit: at the
    target level siblings are sorted, so the scan stops at the first larger hash.
    """
    target = hash_key(rev_hash)
    frames: list[tuple[RevNode, int]] = [(root, 0)]
    while frames:
        node, next_index = frames[-1]
        if len(frames) == depth:
            for index, child in enumerate(node.children):
                if child.hash == rev_hash:
                    return [taken - 1 for _node, taken in frames[:-1]] + [index]
                if hash_key(child.hash) > target:
                    break
            frames.pop()
            continue
        if next_index < len(node.children):
            frames[-1] = (node, next_index + 1)
            frames.append((node.children[next_index], 0))
        else:
            frames.pop()
    return None


def _extend(target: RevNode, values: list[_Value], matched: int) -> tuple[RevNode, MergeOutcome]:
    """merge_extend/2 below ``target``, which matched ``values[matched]``."""
    spine: list[tuple[RevNode, tuple[bool, bool], int]] = []
    node, at = target, matched
    while True:
        deleted, available = _prefer(node, values[at])
        kids = node.children
        if at + 1 == len(values):
            children, outcome = kids, MergeOutcome.INTERNAL_NODE
            break
        incoming = values[at + 1]
        if not kids:
            children, outcome = (_chain(values[at + 1 :]),), MergeOutcome.NEW_LEAF
            break
        slot = _slot(kids, incoming[0])
        if slot < len(kids) and kids[slot].hash == incoming[0]:
            spine.append((node, (deleted, available), slot))
            node, at = kids[slot], at + 1
            continue
        children = (*kids[:slot], _chain(values[at + 1 :]), *kids[slot:])
        outcome = MergeOutcome.NEW_BRANCH
        break
    result = RevNode(node.hash, deleted, available, children)
    for parent, (parent_deleted, parent_available), slot in reversed(spine):
        kids = (*parent.children[:slot], result, *parent.children[slot + 1 :])
        result = RevNode(parent.hash, parent_deleted, parent_available, kids)
    return result, outcome


def _slot(kids: tuple[RevNode, ...], rev_hash: str) -> int:
    # merge_extend/2 scans siblings in order: stop at an equal hash or before a larger one.
    target = hash_key(rev_hash)
    for index, kid in enumerate(kids):
        if kid.hash == rev_hash or hash_key(kid.hash) > target:
            return index
    return len(kids)


def _replace_child(parent: RevNode, index: int, child: RevNode) -> RevNode:
    kids = (*parent.children[:index], child, *parent.children[index + 1 :])
    return RevNode(parent.hash, parent.deleted, parent.available, kids)


def _stem_branch(branch: RevPath, limit: int, roots: list[RevPath]) -> None:
    """stem_tree/4 on one branch, post-order: keep a node if a leaf below is < limit away."""
    # Frame: node, its generation, results of its finished children (distance, kept node).
    frames: list[tuple[RevNode, int, list[tuple[int, RevNode | None]]]] = [(branch.node, branch.pos, [])]
    while frames:
        node, pos, done = frames[-1]
        if len(done) < len(node.children):
            frames.append((node.children[len(done)], pos + 1, []))
            continue
        frames.pop()
        distance = 1 + min(found for found, _kept in done) if done else 0
        kept_children = tuple(kept for _found, kept in done if kept is not None)
        kept: RevNode | None = None
        if distance < limit:
            if len(kept_children) == len(node.children):
                kept = node
            else:
                kept = RevNode(node.hash, node.deleted, node.available, kept_children)
        else:
            roots.extend(RevPath(pos + 1, child) for child in kept_children)
        if frames:
            frames[-1][2].append((distance, kept))
        elif kept is not None:
            roots.append(RevPath(pos, kept))


def _leaf_paths(tree: RevTree, limit: int | None) -> list[_Flat]:
    """Every root-to-leaf path cut to its last ``limit`` revisions, in get_all_leafs_full/1's
    order (branches last to first, each depth-first)."""
    flats: list[_Flat] = []
    for branch in reversed(tree):
        for pos, trail in walk((branch,)):
            if trail[-1].children:
                continue
            kept = trail if limit is None else trail[-limit:]
            values = [(node.hash, node.deleted, node.available) for node in kept]
            flats.append((pos - len(values) + 1, values))
    return flats


def _couch_sorted(flats: list[_Flat]) -> list[_Flat]:
    # lists:sort of {Start, [{Key, Value}, ...]} with the path leaf first, term by term.
    def key(flat: _Flat) -> tuple[int, list[tuple[bytes, tuple[int, bool]]]]:
        start, values = flat
        return start, [
            (hash_key(h), value_key(RevNode(h, deleted, available)))
            for h, deleted, available in reversed(values)
        ]

    return sorted(flats, key=key)


def _rebuild(flats: list[_Flat]) -> RevTree:
    tree: RevTree = ()
    for start, values in flats:
        tree, _outcome = _merge_path(tree, start, values)
    return tree
