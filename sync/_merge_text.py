"""Three-way (and n-way) merge of free text: lines via ``merge3``, then sentences; nothing dropped.

Tokens
    A text is cut into *line tokens*: each run of non-newline characters is one token and
    each run of newlines (``"\\n"``, ``"\\n\\n"`` …) is another, so appending a paragraph to
    a text without a trailing newline does not touch its last line. Inside a line,
    a sentence ends at sentence-ending punctuation (``. ! ? …``, optionally followed by a
    closing quote or bracket) that is followed by whitespace and more text; the whitespace
    between two sentences is a token of its own, so adding a sentence anywhere in a
    paragraph, or deleting one, never touches its neighbours. ``"".join(tokens) == text``
    always holds: splitting never alters the text.

Merging
    Two versions go through ``merge3.Merge3`` at line granularity. Each region merge3
    reports as a conflict is refined: every version's changes (hunks) against the base are
    clustered, and hunks from different versions clash only when they *overlap* a base
    range. Changes that merely touch (edit line 3 / edit line 4, or insert right after a
    line the other side edited) apply cleanly; insertions by several versions at the same
    point are all kept, in version order (identical insertions once); deletions that
    overlap other deletions are unioned. What still clashes is retried at sentence
    granularity, where the gaps between sentences never anchor an alignment by themselves
    (a rewritten paragraph is one change, so nobody's sentence lands inside another's
    rewrite). What clashes there too becomes a ``Conflict`` spanning the whole clashing
    *lines*, holding every version of them. Three or more versions skip the ``merge3`` pass
    and are clustered directly.

The caller decides how a conflict reads (``render``) and what each side's candidate is
(``resolve``). This module knows nothing about schemas or authors.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from merge3 import Merge3

_LINE_TOKEN = re.compile(r"\n+|[^\n]+")
# Sentence end: . ! ? or an ellipsis, then closing quotes/brackets, before whitespace + text.
_SENTENCE_GAP = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]]*([^\\S\\n]+)(?=\\S)")

CONFLICT_HEADER = "[Conflicting edit — {who}]"
CONFLICT_DELETED = "[Conflicting edit — {who}: deleted this passage]"
CONFLICT_END = "[End of conflicting edits]"


@dataclass(frozen=True)
class Conflict:
    """Clashing edits of one passage: the base text and each version's text of it (by index)."""

    base: str
    versions: tuple[str, ...]

    def participants(self) -> tuple[int, ...]:
        """Indexes of the versions that changed this passage."""
        return tuple(i for i, text in enumerate(self.versions) if text != self.base)


Piece = str | Conflict


def split_lines(text: str) -> list[str]:
    """Line tokens: runs of non-newline characters and runs of newlines."""
    return _LINE_TOKEN.findall(text)


def split_sentences(text: str) -> list[str]:
    """Sentence-ish tokens; newline runs and the gaps between sentences are tokens of their own."""
    chunks: list[str] = []
    for token in split_lines(text):
        if token.startswith("\n"):
            chunks.append(token)
            continue
        start = 0
        for match in _SENTENCE_GAP.finditer(token):
            chunks.append(token[start : match.start(1)])
            chunks.append(match.group(1))
            start = match.end()
        chunks.append(token[start:])
    return chunks


class _Matcher(difflib.SequenceMatcher[str]):
    """``difflib.SequenceMatcher`` without the "popular element" heuristic.

    With autojunk on, long texts would treat blank-line tokens as junk and align badly.
    """

    def __init__(
        self,
        isjunk: Callable[[str], bool] | None = None,
        a: Sequence[str] = "",
        b: Sequence[str] = "",
        autojunk: bool = False,
    ) -> None:
        super().__init__(isjunk, a, b, autojunk=False)


@dataclass(frozen=True)
class _Hunk:
    start: int
    end: int
    tokens: tuple[str, ...]
    version: int

    def overlaps(self, other: _Hunk) -> bool:
        # Strict overlap: hunks that only touch, or insert at the same point, do not clash.
        return self.start < other.end and other.start < self.end


def _is_gap(token: str) -> bool:
    """The whitespace between two sentences of a line."""
    return token.isspace() and "\n" not in token


def _hunks(
    base: Sequence[str], tokens: Sequence[str], version: int, junk: Callable[[str], bool] | None
) -> list[_Hunk]:
    # With ``junk``, gaps never anchor an alignment on their own: a rewritten paragraph is one
    # change, not a string of changes between unchanged spaces.
    opcodes = _Matcher(junk, base, tokens).get_opcodes()
    return [_Hunk(i1, i2, tuple(tokens[j1:j2]), version) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"]


def _apply(base: Sequence[str], start: int, end: int, hunks: Sequence[_Hunk]) -> str:
    """``base[start:end]`` with ``hunks`` (one version's, inside the range) applied."""
    out: list[str] = []
    cursor = start
    for hunk in sorted(hunks, key=lambda h: (h.start, h.end)):
        out.extend(base[cursor : hunk.start])
        out.extend(hunk.tokens)
        cursor = hunk.end
    out.extend(base[cursor:end])
    return "".join(out)


def _clusters(hunks: Sequence[_Hunk]) -> list[list[_Hunk]]:
    """Connected groups of hunks under "overlaps a hunk of another version"."""
    parent = list(range(len(hunks)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, first in enumerate(hunks):
        for j in range(i + 1, len(hunks)):
            second = hunks[j]
            if first.version != second.version and first.overlaps(second):
                parent[find(i)] = find(j)
    groups: dict[int, list[_Hunk]] = {}
    for i, hunk in enumerate(hunks):
        groups.setdefault(find(i), []).append(hunk)
    return list(groups.values())


Refiner = Callable[[str, Sequence[str]], str | None]


def _merge_group(base: Sequence[str], group: Sequence[_Hunk], count: int, refine: Refiner | None) -> Piece:
    start = min(h.start for h in group)
    end = max(h.end for h in group)
    base_text = "".join(base[start:end])
    versions = tuple(_apply(base, start, end, [h for h in group if h.version == v]) for v in range(count))
    changed = {text for text in versions if text != base_text}
    if len(changed) == 1:
        return changed.pop()
    if all(not h.tokens for h in group):
        # Only deletions: delete everything any version deleted.
        gone = {i for h in group for i in range(h.start, h.end)}
        return "".join(tok for i, tok in enumerate(base[start:end], start) if i not in gone)
    if refine is not None:
        refined = refine(base_text, versions)
        if refined is not None:
            return refined
    return Conflict(base_text, versions)


def _merge_tokens(
    base: Sequence[str],
    versions: Sequence[Sequence[str]],
    refine: Refiner | None,
    joiner: str,
) -> list[Piece]:
    junk = _is_gap if joiner == " " else None
    hunks = [h for v, tokens in enumerate(versions) for h in _hunks(base, tokens, v, junk)]
    items: list[tuple[int, int, int, Piece]] = []
    seen_insertions: set[tuple[int, tuple[str, ...]]] = set()
    for group in _clusters(hunks):
        first = group[0]
        if len(group) == 1:
            if first.start == first.end:
                # Several versions inserting the same text at the same point: keep it once.
                if (first.start, first.tokens) in seen_insertions:
                    continue
                seen_insertions.add((first.start, first.tokens))
            items.append((first.start, first.end, first.version, "".join(first.tokens)))
        else:
            start = min(h.start for h in group)
            end = max(h.end for h in group)
            version = min(h.version for h in group)
            items.append((start, end, version, _merge_group(base, group, len(versions), refine)))
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    pieces: list[Piece] = []
    cursor = 0
    inserted_at: int | None = None
    for start, end, _version, piece in items:
        if start == end == inserted_at and isinstance(piece, str):
            previous = pieces[-1]
            if isinstance(previous, str) and _glued(previous, piece, joiner):
                # Two versions inserted at the same point: keep them apart.
                pieces.append(joiner)
        else:
            pieces.append("".join(base[cursor:start]))
        pieces.append(piece)
        cursor = end
        inserted_at = start if start == end else None
    pieces.append("".join(base[cursor:]))
    return pieces


def _glued(left: str, right: str, joiner: str) -> bool:
    if joiner == "\n":
        return not left.endswith("\n") and not right.startswith("\n")
    return not left[-1:].isspace() and not right[:1].isspace()


def _refine_by_sentence(base: str, versions: Sequence[str]) -> str | None:
    sentences = [split_sentences(v) for v in versions]
    pieces = _merge_tokens(split_sentences(base), sentences, None, " ")
    if any(isinstance(piece, Conflict) for piece in pieces):
        return None
    return "".join(piece for piece in pieces if isinstance(piece, str))


def _coalesce(pieces: Sequence[Piece]) -> tuple[Piece, ...]:
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str):
            if not piece:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + piece
                continue
        out.append(piece)
    return tuple(out)


def merge_text(base: str, versions: Sequence[str]) -> tuple[Piece, ...]:
    """Merge ``versions`` (each an edit of ``base``) into clean text and ``Conflict`` pieces.

    The order of ``versions`` only decides the order in which same-point insertions and
    conflict versions are laid out; callers pass them in a canonical order.
    """
    base_lines = split_lines(base)
    lines = [split_lines(v) for v in versions]
    if len(versions) != 2:
        return _coalesce(_merge_tokens(base_lines, lines, _refine_by_sentence, "\n"))
    ours, theirs = lines
    pieces: list[Piece] = []
    # merge3's matcher protocol is stricter than difflib's own signature; ours is a subclass.
    matcher: Any = _Matcher
    merge: Merge3[str] = Merge3(base_lines, ours, theirs, sequence_matcher=matcher)
    for region in merge.merge_regions():
        if region[0] == "unchanged":
            pieces.append("".join(base_lines[region[1] : region[2]]))
        elif region[0] in ("a", "same"):
            pieces.append("".join(ours[region[1] : region[2]]))
        elif region[0] == "b":
            pieces.append("".join(theirs[region[1] : region[2]]))
        else:
            _, z1, z2, a1, a2, b1, b2 = cast("tuple[str, int, int, int, int, int, int]", region)
            pieces.extend(
                _merge_tokens(base_lines[z1:z2], [ours[a1:a2], theirs[b1:b2]], _refine_by_sentence, "\n")
            )
    return _coalesce(pieces)


def has_conflicts(pieces: Sequence[Piece]) -> bool:
    return any(isinstance(piece, Conflict) for piece in pieces)


def resolve(pieces: Sequence[Piece], version: int) -> str:
    """The merged text with every conflict settled in favour of ``version``."""
    return "".join(p if isinstance(p, str) else p.versions[version] for p in pieces)


def render(pieces: Sequence[Piece], labels: Sequence[str]) -> str:
    """The merged text; each conflict shows every distinct version, headed by who wrote it.

    A conflict block sits on lines of its own::

        [Conflicting edit — Amy Worker, 20 November 10:04]
        <that version of the passage>
        [Conflicting edit — Jamie Hussain, 20 November 10:06]
        <the other version>
        [End of conflicting edits]

    ``labels`` are for people (names, local times: see ``Side.label``), never raw ids. A
    version that deleted the passage shows as ``[Conflicting edit — Jamie Hussain, …: deleted
    this passage]``. Versions that wrote the same text share one header (labels joined by
    ``"; "``). Only versions that changed the passage appear.
    """
    out: list[str] = []
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            out.append(piece)
            continue
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        texts: dict[str, list[str]] = {}
        for version in piece.participants():
            texts.setdefault(piece.versions[version], []).append(labels[version])
        # Each version shows without its trailing newlines; the longest run follows the block.
        gap = max(len(text) - len(text.rstrip("\n")) for text in texts)
        for text, who in texts.items():
            if not text:
                out.append(CONFLICT_DELETED.format(who="; ".join(who)) + "\n")
                continue
            out.append(CONFLICT_HEADER.format(who="; ".join(who)) + "\n")
            out.append(text.rstrip("\n") + "\n")
        out.append(CONFLICT_END)
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        if following is None:
            out.append("\n" * gap)
        elif not (isinstance(following, str) and following[:1] == "\n"):
            out.append("\n" * max(gap, 1))
    return "".join(out)


def combine(base: str, versions: Sequence[str]) -> str:
    """Every version kept, without markers: ``versions`` merged against ``base``, each clashing
    passage written once per distinct version, in version order, each on lines of its own.

    What a supervisor's "keep both" decision writes: the text a person edits next carries no
    attribution markers (who wrote what stays with the decision and the revisions).
    """
    out: list[str] = []
    for piece in merge_text(base, versions):
        if isinstance(piece, str):
            out.append(piece)
            continue
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        distinct = list(dict.fromkeys(piece.versions[i].rstrip("\n") for i in piece.participants()))
        out.append("\n".join(text for text in distinct if text))
        trailing = max(len(t) - len(t.rstrip("\n")) for t in piece.versions)
        out.append("\n" * trailing)
    return "".join(out)
