"""CouchDB-compatible revision trees as pure functions over immutable values."""

# The tree format
# ---------------
# A document's history is a forest, as in CouchDB's couch_key_tree ``[{Pos, {Key, Value,
# [Children]}}]`` and PouchDB's ``[{pos, ids: [hash, opts, [children]]}]``:
#
#     RevTree = tuple[RevPath, ...]      branches, sorted by (pos, hash)
#     RevPath(pos, node)                 ``node`` is the revision at generation ``pos``
#     RevNode(hash, deleted, available, children)
#
# A revision id is ``f"{pos}-{hash}"``; a child is one generation below its parent. A tree
# has several roots when stemming cut old revisions away, or when unrelated histories met.
# ``available`` is False for a revision whose body we never held: an ancestor known only by
# id from ``_revisions``, or a stub; ``deleted`` of such a node means nothing. Siblings are
# sorted by hash and branches by (pos, hash), in CouchDB's order for hashes (``hash_key``:
# a 32-digit hash compares as the 16 bytes it encodes), so equal trees compare equal.
#
# Every operation returns a new tree and none recurses, so histories thousands of revisions
# deep are safe. ``to_json`` gives the flat storage form described there.
#
# Merging, stemming and purging follow couch_key_tree.erl (in ``_revtree_merge``); winners,
# conflicts and ``_revs_diff`` answers follow couch_doc.erl and couch_db.erl. Where CouchDB
# and PouchDB differ, CouchDB is followed.

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypedDict

from ._errors import LocalSyncError
from ._revtree_merge import merge, remove_leaves, stem
from ._revtree_model import (
    _HASH_RE,
    MAX_REV_POS,
    Leaf,
    MergeOutcome,
    RevNode,
    RevPath,
    RevTree,
    canonical,
    format_rev,
    from_json,
    hash_key,
    new_rev,
    new_rev_hash,
    parse_rev,
    path_from_doc,
    path_from_revisions,
    to_json,
    walk,
)

__all__ = [
    "MAX_REV_POS",
    "Leaf",
    "MergeOutcome",
    "RevNode",
    "RevPath",
    "RevTree",
    "Revisions",
    "RevsInfo",
    "ancestry",
    "canonical",
    "common_ancestor",
    "conflicts",
    "contains",
    "deleted_conflicts",
    "find_node",
    "format_rev",
    "from_json",
    "is_deleted",
    "is_leaf",
    "latest",
    "leaf_count",
    "leaf_rev",
    "leaves",
    "merge",
    "missing_revs",
    "new_edit_path",
    "new_rev",
    "new_rev_hash",
    "parse_rev",
    "path_ancestors",
    "path_from_doc",
    "path_from_revisions",
    "remove_leaves",
    "revisions",
    "revs_info",
    "stem",
    "stored_latest",
    "stored_leaf_revs",
    "stored_revisions",
    "to_json",
    "winning_rev",
]


class Revisions(TypedDict):
    """A document's ``_revisions``: the generation of ``ids[0]`` and hashes newest first."""

    start: int
    ids: list[str]


class RevsInfo(TypedDict):
    """One entry of a document's ``_revs_info``."""

    rev: str
    status: Literal["available", "missing", "deleted"]


def leaves(tree: RevTree) -> list[Leaf]:
    """Every leaf with its path, winner first: CouchDB's doc_info order.

    That order is descending by (not deleted, pos, hash), so live leaves come before deleted
    ones, then longer histories, then higher hashes.
    """
    found: list[Leaf] = []
    for pos, trail in walk(tree):
        node = trail[-1]
        if not node.children:
            path = tuple(format_rev(pos - up, n.hash) for up, n in enumerate(reversed(trail)))
            found.append(Leaf(path[0], pos, node.hash, node.deleted, node.available, path))
    found.sort(key=lambda leaf: (not leaf.deleted, leaf.pos, hash_key(leaf.hash)), reverse=True)
    return found


def leaf_count(tree: RevTree) -> int:
    """How many leaves ``tree`` has (couch_key_tree:count_leafs/1)."""
    return sum(1 for _pos, trail in walk(tree) if not trail[-1].children)


def winning_rev(tree: RevTree) -> str:
    """CouchDB's winning revision: live leaves first, then the highest pos, then hash.

    Raises LocalSyncError for an empty tree.
    """
    return _ranked(tree)[0][1]


def is_deleted(tree: RevTree) -> bool:
    """Whether the winning revision is a deletion (every leaf is deleted).

    Raises LocalSyncError for an empty tree.
    """
    return _ranked(tree)[0][0]


def conflicts(tree: RevTree) -> list[str]:
    """``_conflicts``: live leaves other than the winner, in CouchDB's order (see ``leaves``).

    Empty when the winner is deleted, since then every leaf is, and for an empty tree.
    """
    return [rev for deleted, rev in _ranked(tree)[1:] if not deleted] if tree else []


def deleted_conflicts(tree: RevTree) -> list[str]:
    """``_deleted_conflicts``: deleted leaves other than the winner, in CouchDB's order."""
    return [rev for deleted, rev in _ranked(tree)[1:] if deleted] if tree else []


def contains(tree: RevTree, rev: str) -> bool:
    """Whether ``rev`` is in ``tree``, body or no body. Raises InvalidRevision if malformed."""
    return _trail(tree, rev) is not None


def find_node(tree: RevTree, rev: str) -> RevNode | None:
    """The node of ``rev``, or None if the tree lacks it. Raises InvalidRevision if malformed."""
    found = _trail(tree, rev)
    return None if found is None else found[1][-1]


def is_leaf(tree: RevTree, rev: str) -> bool:
    """Whether ``rev`` is a leaf of ``tree``. Raises InvalidRevision if malformed."""
    node = find_node(tree, rev)
    return node is not None and not node.children


def ancestry(tree: RevTree, rev: str) -> list[str]:
    """``rev`` and its ancestors up to the root of its branch, newest first.

    Raises InvalidRevision if ``rev`` is malformed, LocalSyncError if it is not in the tree.
    """
    pos, trail = _require(tree, rev)
    return [format_rev(pos - up, node.hash) for up, node in enumerate(reversed(trail))]


def revisions(tree: RevTree, rev: str, *, limit: int | None = None) -> Revisions:
    """``_revisions`` for ``rev``: ``{"start": N, "ids": [...]}``, at most ``limit`` ids.

    Raises InvalidRevision if ``rev`` is malformed, LocalSyncError if it is not in the tree
    or ``limit`` is below 1.
    """
    if limit is not None and limit < 1:
        raise LocalSyncError("a revisions limit must be at least 1")
    pos, trail = _require(tree, rev)
    ids = [node.hash for node in reversed(trail)]
    return {"start": pos, "ids": ids if limit is None else ids[:limit]}


def revs_info(tree: RevTree, rev: str) -> list[RevsInfo]:
    """``_revs_info`` for ``rev``: each revision from ``rev`` to its root and its status.

    A revision is ``missing`` if we lack its body, else ``deleted`` or ``available``.
    Raises InvalidRevision if ``rev`` is malformed, LocalSyncError if it is not in the tree.
    """
    pos, trail = _require(tree, rev)
    return [
        {"rev": format_rev(pos - up, node.hash), "status": _status(node)}
        for up, node in enumerate(reversed(trail))
    ]


def latest(tree: RevTree, rev: str) -> list[str]:
    """For ``latest=true``: the leaves descending from ``rev`` (``rev`` itself if a leaf).

    Leaves come depth-first, as couch_key_tree:get_key_leafs/2 returns them; empty if ``rev``
    is not in the tree. Raises InvalidRevision if ``rev`` is malformed.
    """
    found = _trail(tree, rev)
    if found is None:
        return []
    subtree = (RevPath(found[0], found[1][-1]),)
    return [format_rev(pos, trail[-1].hash) for pos, trail in walk(subtree) if not trail[-1].children]


def leaf_rev(path: RevPath) -> str:
    """The rev at the end of a linear path (a path from ``_revisions`` has one branch)."""
    node, pos = path.node, path.pos
    while node.children:
        node, pos = node.children[0], pos + 1
    return format_rev(pos, node.hash)


def path_ancestors(path: RevPath) -> list[str]:
    """The revs of a linear path from just above its leaf towards its root (the leaf left out)."""
    chain: list[str] = []
    node, pos = path.node, path.pos
    while True:
        chain.append(format_rev(pos, node.hash))
        if not node.children:
            break
        node, pos = node.children[0], pos + 1
    chain.reverse()
    return chain[1:]


def new_edit_path(
    *, parent_rev: str | None, tree: RevTree, body: Mapping[str, object], deleted: bool
) -> RevPath:
    """The path of a new edit of ``parent_rev`` (None: a first revision) whose body is ``body``:
    CouchDB's ``new_edits=true``. The new revision's ancestors are those of ``parent_rev`` in
    ``tree``. Raises InvalidRevision if ``parent_rev`` is malformed, LocalSyncError if it is
    not in the tree."""
    rev_hash = new_rev_hash(parent=parent_rev, deleted=deleted, body=body)
    if parent_rev is None:
        return path_from_revisions(1, [rev_hash], deleted=deleted)
    pos, _ = parse_rev(parent_rev)
    ids = [rev_hash, *(parse_rev(rev)[1] for rev in ancestry(tree, parent_rev))]
    return path_from_revisions(pos + 1, ids, deleted=deleted)


def common_ancestor(tree: RevTree, revs: Sequence[str]) -> str | None:
    """The merge base: the deepest available revision in the history of every one of ``revs``.

    A revision counts as in its own history. None if the revisions share no available one.

    Raises InvalidRevision for a malformed rev, LocalSyncError if ``revs`` is empty or a rev
    is not in the tree.
    """
    if not revs:
        raise LocalSyncError("common_ancestor needs at least one revision")
    chains = []
    for rev in revs:
        pos, trail = _require(tree, rev)
        chains.append([(pos - up, node) for up, node in enumerate(reversed(trail))])
    shared = [{(pos, node.hash) for pos, node in chain} for chain in chains[1:]]
    for pos, node in chains[0]:
        if node.available and all((pos, node.hash) in others for others in shared):
            return format_rev(pos, node.hash)
    return None


def missing_revs(tree: RevTree, revs: Iterable[str]) -> tuple[list[str], list[str]]:
    """For ``_revs_diff``: ``(missing, possible_ancestors)``.

    ``missing`` lists, in request order and without repeats, the revs the tree lacks (a
    revision known only by id is not missing, as in couch_key_tree:find_missing/2).
    ``possible_ancestors`` lists the leaves, deleted or not, whose pos is below that of some
    missing rev, in CouchDB's order (the reverse of ``leaves``); empty when nothing is
    missing. Raises InvalidRevision for a malformed rev.
    """
    known = {(pos, trail[-1].hash) for pos, trail in walk(tree)}
    missing: list[str] = []
    asked: set[str] = set()
    highest = 0
    for rev in revs:
        pos, rev_hash = parse_rev(rev)
        if rev not in asked and (pos, rev_hash) not in known:
            missing.append(rev)
            highest = max(highest, pos)
        asked.add(rev)
    if not missing:
        return [], []
    below = [leaf.rev for leaf in reversed(leaves(tree)) if leaf.pos < highest]
    return missing, below


def _status(node: RevNode) -> Literal["available", "missing", "deleted"]:
    if not node.available:
        return "missing"
    return "deleted" if node.deleted else "available"


def _ranked(tree: RevTree) -> list[tuple[bool, str]]:
    if not tree:
        raise LocalSyncError("an empty revision tree has no winner")
    ranked = [
        (not trail[-1].deleted, pos, hash_key(trail[-1].hash), trail[-1].hash)
        for pos, trail in walk(tree)
        if not trail[-1].children
    ]
    ranked.sort(reverse=True)
    return [(not live, format_rev(pos, rev_hash)) for live, pos, _key, rev_hash in ranked]


def _trail(tree: RevTree, rev: str) -> tuple[int, list[RevNode]] | None:
    pos, rev_hash = parse_rev(rev)
    for at, trail in walk(tree, max_pos=pos):
        if at == pos and trail[-1].hash == rev_hash:
            return pos, list(trail)
    return None


def _require(tree: RevTree, rev: str) -> tuple[int, list[RevNode]]:
    found = _trail(tree, rev)
    if found is None:
        raise LocalSyncError("the revision is not in the tree; check contains() first")
    return found


# -- shortcuts on the stored (``to_json``) form ---------------------------------------------
#
# Serving a pull touches every document's stored tree once or twice; nearly all of them are a
# single unbranched history. These answer from the flat list directly in that case and fall
# back to the full ``from_json`` (with its validation) for anything else, so their answers are
# always those of ``leaves`` / ``revisions`` / ``latest`` on the parsed tree.


def _stored_chain(data: object) -> tuple[int, list[str]] | None:
    """``(leaf pos, hashes root first)`` if ``data`` is a well-formed stored single path."""
    if not isinstance(data, list) or not data:
        return None
    hashes: list[str] = []
    first = data[0]
    if not (isinstance(first, list) and len(first) == 4 and first[3] == -1):
        return None
    start = first[0]
    if not (type(start) is int and start >= 1):
        return None
    for index, entry in enumerate(data):
        if not (isinstance(entry, list) and len(entry) == 4):
            return None
        pos, rev_hash, flags, parent = entry
        if pos != start + index or parent != index - 1 or type(flags) is not int or not 0 <= flags <= 3:
            return None
        if not (isinstance(rev_hash, str) and _HASH_RE.fullmatch(rev_hash)):
            return None
        hashes.append(rev_hash)
    if start + len(hashes) - 1 > MAX_REV_POS:
        return None
    return start + len(hashes) - 1, hashes


def _depth_in_chain(chain: tuple[int, list[str]], rev: str) -> int | None:
    """How far ``rev`` lies below the leaf of a stored single path; None if not on it.
    Raises InvalidRevision for a malformed ``rev``."""
    pos, rev_hash = parse_rev(rev)
    leaf_pos, hashes = chain
    depth = leaf_pos - pos
    if 0 <= depth < len(hashes) and hashes[len(hashes) - 1 - depth] == rev_hash:
        return depth
    return None


def stored_leaf_revs(data: object) -> list[str]:
    """``[leaf.rev for leaf in leaves(from_json(data))]``, winner first."""
    chain = _stored_chain(data)
    if chain is not None:
        return [format_rev(chain[0], chain[1][-1])]
    return [leaf.rev for leaf in leaves(from_json(data))]


def stored_revisions(data: object, rev: str) -> Revisions:
    """``revisions(from_json(data), rev)`` (same errors)."""
    chain = _stored_chain(data)
    if chain is not None:
        depth = _depth_in_chain(chain, rev)
        if depth is not None:
            hashes = chain[1]
            return {"start": chain[0] - depth, "ids": list(reversed(hashes[: len(hashes) - depth]))}
    return revisions(from_json(data), rev)


def stored_latest(data: object, rev: str) -> list[str]:
    """``latest(from_json(data), rev)``."""
    chain = _stored_chain(data)
    if chain is not None:
        return [] if _depth_in_chain(chain, rev) is None else [format_rev(chain[0], chain[1][-1])]
    return latest(from_json(data), rev)
