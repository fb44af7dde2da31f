"""Where rows go when a sorted tab of the master changes: the rows to delete and insert
so that the rows kept stay where they are, instead of every row below a change rewritten
(:class:`~sync.sheets.RowMove`). Pure: lists of keys in, moves out
(:mod:`sync.master_update` applies them)."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from difflib import SequenceMatcher

from sync.sheets import RowMove

__all__ = ["MOVE_FROM", "block_moves", "merge_blocks", "row_moves"]

MOVE_FROM = 20
"""A small tab's rows shift by deletions and insertions (:class:`~sync.sheets.RowMove`)
when rewriting them in place would set this many rows or more."""


def merge_blocks(
    before: int, gone: Sequence[int], places: Sequence[int]
) -> list[tuple[str, int, int, int, int]]:
    """The blocks (as :meth:`difflib.SequenceMatcher.get_opcodes` gives them) that take a
    sorted list of ``before`` rows to the list without the rows at ``gone`` and with new
    rows put before the rows at ``places`` (sorted; ``before``: at the end)."""
    blocks: list[tuple[str, int, int, int, int]] = []
    events = sorted({*gone, *places})
    removed = set(gone)
    put = collections.Counter(places)
    i = j = 0
    for at in events:
        if at > i:
            blocks.append(("equal", i, at, j, j + at - i))
            j += at - i
            i = at
        # at ``at``: the new rows put before it, then the row itself taken out (or kept)
        count = put.get(at, 0)
        end = at + 1 if at in removed else at
        if count or end > at:
            kind = "replace" if count and end > at else "insert" if count else "delete"
            blocks.append((kind, at, end, j, j + count))
            j += count
            i = end
    if i < before:
        blocks.append(("equal", i, before, j, j + before - i))
    return blocks


def row_moves(
    tab: str, before: Sequence[str], after: Sequence[str], move_from: int = MOVE_FROM
) -> tuple[list[RowMove], list[int | None]]:
    """The rows to delete and insert so that the rows kept (same key, same order) stay
    where they are, and for each row after, the index of the row it was before (None: a
    row put in, or one rewritten in place). No moves (and no origins) when shifting the
    rows would rewrite fewer than ``move_from`` rows.

    Rows are 0-based in ``before``/``after``; a move's ``at`` counts the header (row 0).
    Changes after the last row kept are not moves: those rows are set, or cleared.
    """
    first = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), None)
    if first is None:
        first = min(len(before), len(after))
    if min(len(before), len(after)) - first < move_from:
        return [], []
    blocks = SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    origin: list[int | None] = [None] * len(after)
    for kind, i1, i2, j1, j2 in blocks:
        if kind == "equal":
            origin[j1:j2] = range(i1, i2)
    return block_moves(tab, blocks, origin, len(before), len(after), move_from)


def block_moves(
    tab: str,
    blocks: Sequence[tuple[str, int, int, int, int]],
    origin: list[int | None],
    before: int,
    after: int,
    move_from: int,
) -> tuple[list[RowMove], list[int | None]]:
    """:func:`row_moves` from the blocks that take the rows before to the rows after
    (``origin``: for each row after, the index of the row kept there, or None)."""
    first = next((i1 for kind, i1, _, _, _ in blocks if kind != "equal"), min(before, after))
    if min(before, after) - first < move_from:
        return [], []
    last_kept = max((k for k, block in enumerate(blocks) if block[0] == "equal"), default=-1)
    moves: list[RowMove] = []
    shift = 0
    for k, (kind, i1, i2, j1, j2) in enumerate(blocks):
        if kind == "equal":
            continue
        if k > last_kept:
            continue
        common = min(i2 - i1, j2 - j1)
        grown = (j2 - j1) - (i2 - i1)
        moves.append(RowMove(tab, 1 + i1 + shift + common, grown))
        shift += grown
    return [move for move in moves if move.count], origin
