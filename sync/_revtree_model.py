"""Values, revision ids and the storage form of revision trees (format: see ``_revtree``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise, zip_longest
from typing import TypeAlias

from ._errors import InvalidDocument, InvalidRevision, LocalSyncError

#: Highest generation accepted in a revision id (no document gets near it; it bounds the input).
MAX_REV_POS = 2**31 - 1

# A generation is a positive decimal without leading zeros, so every revision has exactly one
# spelling; the hash is what CouchDB (md5) and PouchDB (md5 or uuid) produce: lowercase hex.
_REV_RE = re.compile(r"([1-9][0-9]{0,9})-([0-9a-f]{1,64})")
_HASH_RE = re.compile(r"[0-9a-f]{1,64}")

_Preorder: TypeAlias = tuple[str, bool, bool, int]


@dataclass(frozen=True, eq=False, slots=True)
class RevNode:
    """One revision: its hash, whether it is a deletion, whether we hold its body, its children.

    ``children`` are in canonical order (see ``_revtree``). Equality, hashing and ``repr`` walk
    the tree without recursion, so histories thousands of revisions deep are safe.
    """

    hash: str
    deleted: bool = False
    available: bool = True
    children: tuple[RevNode, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevNode):
            return NotImplemented
        if self is other:
            return True
        return all(a == b for a, b in zip_longest(_preorder(self), _preorder(other)))

    def __hash__(self) -> int:
        return hash(tuple(_preorder(self)))

    def __repr__(self) -> str:
        out: list[str] = []
        stack: list[RevNode | str] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            out.append(f"RevNode({item.hash!r}")
            if item.deleted:
                out.append(", deleted=True")
            if not item.available:
                out.append(", available=False")
            if not item.children:
                out.append(")")
                continue
            out.append(", children=(")
            stack.append(",))" if len(item.children) == 1 else "))")
            for index in range(len(item.children) - 1, -1, -1):
                stack.append(item.children[index])
                if index:
                    stack.append(", ")
        return "".join(out)


@dataclass(frozen=True, slots=True)
class RevPath:
    """A branch of a tree (or a path to merge): ``node`` sits at generation ``pos``."""

    pos: int
    node: RevNode


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf revision and its known history, ``path`` running from the leaf up to its root."""

    rev: str
    pos: int
    hash: str
    deleted: bool
    available: bool
    path: tuple[str, ...]


class MergeOutcome(StrEnum):
    """What merging a path did to a tree (couch_key_tree:merge/2's second result)."""

    NEW_LEAF = "new_leaf"  # extended an existing leaf (or started an empty tree)
    NEW_BRANCH = "new_branch"  # added a sibling branch or a new, unconnected root
    INTERNAL_NODE = "internal_node"  # the path's leaf was already in the tree


RevTree: TypeAlias = tuple[RevPath, ...]


def _preorder(node: RevNode) -> Iterator[_Preorder]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield (current.hash, current.deleted, current.available, len(current.children))
        stack.extend(reversed(current.children))


def hash_key(rev_hash: str) -> bytes:
    """CouchDB's sort key for a hash: 32 hex digits compare as the 16 bytes they encode.

    couch_doc:parse_revid stores a 32-digit hash as a 128-bit binary and any other hash as
    its text; Erlang orders binaries bytewise. Equal-length lowercase hashes therefore sort as
    ASCII does; only hashes of different lengths can tell the two orders apart.
    """
    return bytes.fromhex(rev_hash) if len(rev_hash) == 32 else rev_hash.encode("ascii")


def value_key(node: RevNode) -> tuple[int, bool]:
    """Erlang's term order of a node's value: a stored body (a tuple) sorts before ``[]``."""
    return (0, node.deleted) if node.available else (1, False)


def root_key(branch: RevPath) -> tuple[int, bytes, tuple[int, bool]]:
    """Sort key of a tree's branches: generation, then hash, then value (as ``lists:sort``)."""
    return (branch.pos, hash_key(branch.node.hash), value_key(branch.node))


def format_rev(pos: int, rev_hash: str) -> str:
    """Spell a revision id, ``f"{pos}-{hash}"``."""
    return f"{pos}-{rev_hash}"


def parse_rev(rev: str) -> tuple[int, str]:
    """Split a revision id ``N-hash`` into ``(N, hash)``.

    N is a decimal from 1 to ``MAX_REV_POS`` without leading zeros; the hash is 1 to 64
    lowercase hex digits (CouchDB and PouchDB write 32). Raises InvalidRevision otherwise.
    """
    if not isinstance(rev, str):
        raise InvalidRevision("a revision id must be a string")
    match = _REV_RE.fullmatch(rev)
    if match is None or int(match[1]) > MAX_REV_POS:
        raise InvalidRevision(
            "invalid revision id: expected '<N>-<hash>' with N >= 1 and a 1-64 digit lowercase hex hash"
        )
    return int(match[1]), match[2]


def check_hash(rev_hash: object, *, field: str = "_revisions") -> str:
    """Return ``rev_hash`` if it is 1-64 lowercase hex digits; raise InvalidRevision if not."""
    if not isinstance(rev_hash, str) or _HASH_RE.fullmatch(rev_hash) is None:
        raise InvalidRevision("a revision hash must be 1-64 lowercase hex digits", field=field)
    return rev_hash


def new_rev_hash(*, parent: str | None, deleted: bool, body: Mapping[str, object]) -> str:
    """The hash of a new revision: md5 (hex) of the canonical JSON ``[deleted, parent, body]``.

    Canonical JSON is UTF-8 with sorted keys and no whitespace, so the same edit made on two
    devices yields the same revision. ``body`` is the document content without ``_rev`` or
    ``_revisions`` (callers strip them). Raises InvalidRevision for a malformed ``parent`` and
    InvalidDocument if ``body`` is not JSON (the message never quotes the body).
    """
    if parent is not None:
        parse_rev(parent)
    try:
        payload = json.dumps(
            [bool(deleted), parent, body],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        raise InvalidDocument("document body is not serialisable as JSON") from None
    return hashlib.md5(payload, usedforsecurity=False).hexdigest()


def new_rev(*, parent: str | None, deleted: bool, body: Mapping[str, object]) -> str:
    """The full id (``N-hash``) of the revision that edits ``parent``; see ``new_rev_hash``."""
    pos = 1 if parent is None else parse_rev(parent)[0] + 1
    return format_rev(pos, new_rev_hash(parent=parent, deleted=deleted, body=body))


def path_from_revisions(start: int, ids: Sequence[str], *, deleted: bool) -> RevPath:
    """The path a document's ``_revisions`` (``start``, ``ids`` newest first) describes.

    The leaf (``ids[0]`` at generation ``start``) is available and carries ``deleted``; its
    ancestors are known only by id, so they are unavailable. Raises InvalidRevision if ``ids``
    is empty, ``start`` is not an integer from ``len(ids)`` to ``MAX_REV_POS``, or a hash is
    malformed.
    """
    if isinstance(start, bool) or not isinstance(start, int):
        raise InvalidRevision("_revisions.start must be an integer", field="_revisions")
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise InvalidRevision("_revisions.ids must be a list", field="_revisions")
    if not ids:
        raise InvalidRevision("_revisions.ids must not be empty", field="_revisions")
    if not len(ids) <= start <= MAX_REV_POS:
        raise InvalidRevision("_revisions.start must be at least the number of ids", field="_revisions")
    hashes = [check_hash(rev_hash) for rev_hash in ids]
    node = RevNode(hashes[0], deleted=bool(deleted), available=True)
    for rev_hash in hashes[1:]:
        node = RevNode(rev_hash, deleted=False, available=False, children=(node,))
    return RevPath(start - len(hashes) + 1, node)


def path_from_doc(doc: Mapping[str, object]) -> RevPath:
    """The path a replicated document carries in ``_rev``, ``_revisions`` and ``_deleted``.

    Without ``_revisions`` the path is the single revision ``_rev``. Raises InvalidRevision if
    ``_rev`` is missing or malformed, ``_revisions`` is malformed, or the two disagree (CouchDB
    silently prefers ``_revisions``; we refuse), and InvalidDocument if ``_deleted`` is not a
    boolean.
    """
    rev = doc.get("_rev")
    if rev is None:
        raise InvalidRevision("the document has no _rev", field="_rev")
    if not isinstance(rev, str):
        raise InvalidRevision("_rev must be a string", field="_rev")
    try:
        pos, rev_hash = parse_rev(rev)
    except InvalidRevision as error:
        raise InvalidRevision(error.reason, field="_rev") from None
    deleted = doc.get("_deleted", False)
    if not isinstance(deleted, bool):
        raise InvalidDocument("_deleted must be true or false", field="_deleted")
    revisions = doc.get("_revisions")
    if revisions is None:
        return path_from_revisions(pos, [rev_hash], deleted=deleted)
    if not isinstance(revisions, Mapping):
        raise InvalidRevision("_revisions must be an object", field="_revisions")
    start, ids = revisions.get("start"), revisions.get("ids")
    if isinstance(start, bool) or not isinstance(start, int):
        raise InvalidRevision("_revisions.start must be an integer", field="_revisions")
    if not isinstance(ids, list):
        raise InvalidRevision("_revisions.ids must be a list", field="_revisions")
    path = path_from_revisions(start, ids, deleted=deleted)
    if start != pos or ids[0] != rev_hash:
        raise InvalidRevision("_rev does not match _revisions", field="_revisions")
    return path


def walk(tree: RevTree, *, max_pos: int | None = None) -> Iterator[tuple[int, list[RevNode]]]:
    """Pre-order walk yielding ``(pos, trail)``, ``trail`` the nodes from the root down.

    ``trail`` is live: copy it to keep it. Nodes deeper than ``max_pos`` are not visited.
    """
    for branch in tree:
        if max_pos is not None and branch.pos > max_pos:
            continue
        trail = [branch.node]
        pending = [iter(branch.node.children)]
        yield branch.pos, trail
        while pending:
            child = next(pending[-1], None)
            if child is None or (max_pos is not None and branch.pos + len(trail) > max_pos):
                pending.pop()
                trail.pop()
                continue
            trail.append(child)
            pending.append(iter(child.children))
            yield branch.pos + len(trail) - 1, trail


def canonical(paths: Iterable[RevPath]) -> RevTree:
    """A tree of the given branches with roots and children in canonical order (no merging).

    Raises LocalSyncError if two siblings share a hash.
    """
    branches: list[RevPath] = []
    for branch in paths:
        # Rebuild bottom-up with an explicit stack: each frame is a node and its sorted kids.
        stack: list[tuple[RevNode, list[RevNode]]] = [(branch.node, [])]
        result: RevNode | None = None
        while stack:
            node, done = stack[-1]
            if len(done) < len(node.children):
                stack.append((node.children[len(done)], []))
                continue
            stack.pop()
            done.sort(key=lambda child: hash_key(child.hash))
            if any(a.hash == b.hash for a, b in pairwise(done)):
                raise LocalSyncError("a revision tree has two siblings with the same hash")
            rebuilt = RevNode(node.hash, node.deleted, node.available, tuple(done))
            if stack:
                stack[-1][1].append(rebuilt)
            else:
                result = rebuilt
        assert result is not None
        branches.append(RevPath(branch.pos, result))
    return tuple(sorted(branches, key=root_key))


def to_json(tree: RevTree) -> list[list[int | str]]:
    """The storage form of ``tree``: a flat JSON list of nodes in pre-order.

    Each node is ``[pos, hash, flags, parent]``: ``flags`` is ``1`` if deleted plus ``2`` if
    the body is unavailable, ``parent`` the index of the parent entry or ``-1`` for a root.
    The list is flat so that deep histories never nest (JSON codecs recurse).
    """
    entries: list[list[int | str]] = []
    for branch in tree:
        stack: list[tuple[RevNode, int, int]] = [(branch.node, branch.pos, -1)]
        while stack:
            node, pos, parent = stack.pop()
            flags = (1 if node.deleted else 0) | (0 if node.available else 2)
            index = len(entries)
            entries.append([pos, node.hash, flags, parent])
            stack.extend((child, pos + 1, index) for child in reversed(node.children))
    return entries


def from_json(data: object) -> RevTree:
    """Rebuild a tree from ``to_json`` output; ``from_json(to_json(t)) == t``.

    Raises LocalSyncError if ``data`` is not a well-formed stored tree.
    """
    if not isinstance(data, list):
        raise LocalSyncError("stored revision tree is malformed: not a list")
    positions: list[int] = []
    values: list[tuple[str, int]] = []
    children: list[list[int]] = []
    roots: list[int] = []
    for index, entry in enumerate(data):
        if not (isinstance(entry, list) and len(entry) == 4):
            raise LocalSyncError(f"stored revision tree is malformed at entry {index}")
        pos, rev_hash, flags, parent = entry
        ints_ok = all(
            isinstance(value, int) and not isinstance(value, bool) for value in (pos, flags, parent)
        )
        hash_ok = isinstance(rev_hash, str) and _HASH_RE.fullmatch(rev_hash) is not None
        if not (ints_ok and hash_ok and 1 <= pos <= MAX_REV_POS and 0 <= flags <= 3):
            raise LocalSyncError(f"stored revision tree is malformed at entry {index}")
        if parent == -1:
            roots.append(index)
        elif not (0 <= parent < index and pos == positions[parent] + 1):
            raise LocalSyncError(f"stored revision tree is malformed at entry {index}")
        else:
            children[parent].append(index)
        positions.append(pos)
        values.append((rev_hash, flags))
        children.append([])
    nodes: list[RevNode] = [RevNode("0")] * len(values)
    for index in range(len(values) - 1, -1, -1):
        rev_hash, flags = values[index]
        kids = tuple(nodes[child] for child in children[index])
        nodes[index] = RevNode(rev_hash, bool(flags & 1), not flags & 2, kids)
    return canonical(RevPath(positions[index], nodes[index]) for index in roots)
