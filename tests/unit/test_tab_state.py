"""The typed view of a tab's stored state: the JSON earlier versions wrote, read and
written back unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.tab_state import Layout, TabSnapshot

texts = st.text(max_size=8)
snapshots = st.builds(
    TabSnapshot,
    layout=st.none()
    | st.builds(Layout, st.integers(0, 5), st.dictionaries(texts, st.integers(0, 30))),
    accept_removal=st.booleans(),
    digest=st.none() | texts,
    rows=st.none() | st.integers(0, 10_000),
    order=st.none() | st.dictionaries(texts, st.integers(), min_size=1),
    keys=st.none() | texts,
    resolutions=st.dictionaries(texts, texts),
    errors=st.dictionaries(texts, texts),
    audit=st.none() | st.integers(0, 10**9),
    team=st.none() | texts,
    other=st.dictionaries(st.sampled_from(["shared", "commission"]), st.dictionaries(texts, texts)),
)


@given(snapshots)
def test_a_snapshot_survives_its_json(snap):
    assert TabSnapshot.from_json(snap.as_json()) == snap


def test_the_json_is_the_one_earlier_versions_wrote():
    agent = {"layout": {"row": 0, "columns": {"phone": 2, "name": 1}}, "accept_removal": True}
    master = {"digest": "ab", "rows": 0, "keys": "cd", "audit": 0, "team": "t"}
    legacy = {"shared": {"CUS-2026-00001": {"email": "a@b.c"}}, "digest": "ab", "rows": 3}
    for data in (agent, master, legacy, {}):
        assert TabSnapshot.from_json(data).as_json() == data
    snap = TabSnapshot.from_json(agent)
    assert snap.layout == Layout(0, {"phone": 2, "name": 1}) and snap.accept_removal
    assert TabSnapshot.from_json(legacy).other == {"shared": legacy["shared"]}
    assert TabSnapshot.from_json(None) == TabSnapshot()
    # A part at its default is not stored: an empty state stays an empty object.
    assert TabSnapshot(resolutions={}, accept_removal=False).as_json() == {}
