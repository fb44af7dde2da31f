"""A small master tab whose rows shift (a row gone from the middle of the Due follow-ups)
is brought up to date by deleting and inserting rows, then setting the rows that changed:
the rows kept land where they belong without being written."""

from __future__ import annotations

import bisect
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.cells import Grid
from sync.row_moves import MOVE_FROM, block_moves, merge_blocks, row_moves
from sync.sheets import RowMove, move_rows, row_offsets


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Rows before, and after some were removed, put in or moved (the keys as text)."""
    before = list(range(draw(st.integers(0, 3 * MOVE_FROM))))
    rng = random.Random(draw(st.integers(0, 2**16)))
    gone = draw(st.floats(0, 0.3))
    after = [k for k in before if rng.random() >= gone]
    for key in range(1000, 1000 + draw(st.integers(0, 10))):
        after.insert(rng.randint(0, len(after)), key)
    for _ in range(draw(st.integers(0, 3))):  # a row whose sort key changed: moved
        if after:
            after.insert(rng.randint(0, len(after) - 1), after.pop(rng.randrange(len(after))))
    return [f"k{k}" for k in before], [f"k{k}" for k in after]


@settings(max_examples=300)
@given(histories())
def test_moves_then_the_rows_set_give_the_tab_after(history: tuple[list[str], list[str]]):
    before, after = history
    moves, origin = row_moves("T", before, after)
    grid: Grid = [["header"], *([key] for key in before)]
    move_rows(grid, moves)
    if moves:
        # Every row kept is already in its place after the moves: it is not written.
        for now, was in enumerate(origin):
            if was is not None:
                assert before[was] == after[now] == grid[now + 1][0]
    else:
        origin = [at if at < len(before) else None for at in range(len(after))]
    written = 0
    for now, key in enumerate(after):
        was = origin[now]
        if was is None or before[was] != key:
            while len(grid) <= now + 1:
                grid.append([])
            grid[now + 1] = [key]
            written += 1
    del grid[len(after) + 1 :]  # the rows past the end are cleared
    assert grid == [["header"], *([key] for key in after)]
    # Never more rows written than rewriting every row in place would.
    in_place = sum(1 for at, key in enumerate(after) if at >= len(before) or before[at] != key)
    assert written <= in_place


@st.composite
def sorted_changes(draw: st.DrawFn) -> tuple[list[int], list[int], list[int]]:
    """A sorted list, the indices of the rows taken out of it and new values to put in."""
    before = sorted(draw(st.lists(st.integers(0, 200), max_size=3 * MOVE_FROM, unique=True)))
    gone = sorted(draw(st.sets(st.integers(0, max(len(before) - 1, 0)), max_size=8)))
    gone = [at for at in gone if at < len(before)]
    fresh = sorted(draw(st.lists(st.integers(0, 200), max_size=8, unique=True)))
    return before, gone, fresh


@settings(max_examples=300)
@given(sorted_changes(), st.integers(1, MOVE_FROM))
def test_rows_taken_out_of_a_sorted_tab_and_put_in_by_place_give_the_sorted_tab(
    change: tuple[list[int], list[int], list[int]], move_from: int
):
    """What the Due follow-ups do (rows found by bisection, no diff of the whole list):
    the blocks take the rows kept and the new ones to the sorted list, and their moves
    leave every row kept in its place, as :func:`row_moves` does."""
    before, gone, fresh = change
    places = [bisect.bisect_left(before, value) for value in fresh]
    blocks = merge_blocks(len(before), gone, places)
    after: list[str] = []
    origin: list[int | None] = []
    new = iter(fresh)
    for kind, i1, i2, j1, j2 in blocks:
        assert j1 == len(after)
        if kind == "equal":
            after += (f"k{v}" for v in before[i1:i2])
            origin += range(i1, i2)
        else:
            after += (f"n{next(new)}" for _ in range(j1, j2))
            origin += [None] * (j2 - j1)
    kept = [v for at, v in enumerate(before) if at not in set(gone)]
    assert [int(key[1:]) for key in after] == sorted(kept + fresh)
    moves, origin = block_moves("T", blocks, origin, len(before), len(after), move_from)
    grid: Grid = [["header"], *([f"k{v}"] for v in before)]
    move_rows(grid, moves)
    if not moves:
        origin = [at if at < len(before) else None for at in range(len(after))]
    for now, was in enumerate(origin):
        if was is not None and moves:
            assert grid[now + 1] == [after[now]]  # in its place, not written
        if was is None or f"k{before[was]}" != after[now]:
            while len(grid) <= now + 1:
                grid.append([])
            grid[now + 1] = [after[now]]
    del grid[len(after) + 1 :]
    assert grid == [["header"], *([key] for key in after)]


def test_a_row_gone_from_the_top_of_a_long_tab_is_one_deletion():
    before = [f"k{i}" for i in range(MOVE_FROM + 5)]
    moves, origin = row_moves("T", before, before[1:])
    assert moves == [RowMove("T", 1, -1)]
    assert origin == list(range(1, len(before)))
    assert row_moves("T", before[-MOVE_FROM + 1 :], before[-MOVE_FROM + 2 :]) == ([], [])


@given(st.lists(st.tuples(st.integers(1, 40), st.integers(-6, 6)), max_size=6))
def test_the_ranges_a_sheet_is_renumbered_by_are_what_the_moves_do_to_a_grid(
    raw: list[tuple[int, int]],
):
    """``row_offsets`` (how a workbook's rows are renumbered) and ``move_rows`` (how a grid
    in memory, or a Google grid as read, is moved) agree on every row."""
    moves = [RowMove("T", at, count) for at, count in raw if count]
    grid: Grid = [[i] for i in range(61)]
    move_rows(grid, moves)
    where = {row[0]: at for at, row in enumerate(grid) if row}
    ranges = row_offsets(moves)
    assert len(ranges) <= len(moves) + 1
    for row in range(61):
        found = [offset for first, end, offset in ranges if first <= row < end]
        assert len(found) <= 1
        assert (row + found[0] if found else None) == where.get(row), row
