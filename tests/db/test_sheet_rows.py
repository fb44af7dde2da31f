"""sheet_rows.save_moved: a tab's stored rows after rows were deleted and inserted in it
(the Due follow-ups' rows moving) are the tab's rows, in order, on both databases."""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.db import session_factory, transaction
from sync.sheet_rows import RowChange, load_written, save_moved, save_whole

_SOURCES = itertools.count()


@st.composite
def moved_tabs(draw: st.DrawFn) -> tuple[int, list[int | None]]:
    """How many rows were stored, and for each row now the stored row it was (or None)."""
    before = draw(st.integers(0, 40))
    rng = random.Random(draw(st.integers(0, 2**16)))
    kept = [at for at in range(before) if rng.random() >= draw(st.floats(0, 0.5))]
    origin: list[int | None] = list(kept)
    for _ in range(draw(st.integers(0, 8))):
        origin.insert(rng.randint(0, len(origin)), None)
    return before, origin


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moved_tabs())
def test_rows_moved_are_stored_in_their_new_order(engine, tab: tuple[int, list[int | None]]):
    before, origin = tab
    source = f"master {next(_SOURCES)}"
    sessions = session_factory(engine)
    keys = [f"k{at}" for at in range(before)]
    with transaction(sessions) as s:
        save_whole(s, source, "Due", keys, [f"d{at}" for at in range(before)], {})
    after = [keys[was] if was is not None else f"new{now}" for now, was in enumerate(origin)]
    changes = [
        RowChange(now + 1, f"new{now}", f"e{now}", "base")
        for now, was in enumerate(origin)
        if was is None
    ]
    with transaction(sessions) as s:
        save_moved(s, source, "Due", origin, changes)
    with transaction(sessions) as s:
        stored = load_written(s, source, ["Due"])["Due"]
    assert stored.keys == after
    assert stored.digests == [
        f"d{was}" if was is not None else f"e{now}" for now, was in enumerate(origin)
    ]
