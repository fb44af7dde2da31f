"""The row merge as a pure function: decisions as data, one field at a time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.dedupe import (
    FieldsDecision,
    PrivateAction,
    SharedAction,
    as_last_synced,
    merge_fields,
    merge_private,
    merge_shared,
    value_text,
)
from sync.long_text import MAX_CELL_CHARS, cut_to_fit

TITLES = {"name": "Name", "email": "Email", "status": "Status", "notes": "Notes"}


def merge(values, stored, base, *, shared, problems=None, proposed=None, keys=None):
    return merge_fields(
        values,
        problems or {},
        keys or list(values),
        stored,
        base,
        titles=TITLES,
        typed_titles={"notes": "Remarks"},
        number="CUS-2026-00001",
        shared=shared,
        proposed=proposed or {},
    )


def test_a_shared_value_fills_an_empty_one_and_is_proposed_over_another():
    decision = merge(
        {"name": "Sara", "email": "new@x.org"},
        {"name": None, "email": "old@x.org"},
        {"name": "", "email": "old@x.org "},
        shared=True,
        keys=["name", "email"],
    )
    assert decision.take == {"name": "Sara"}
    assert (decision.before, decision.after) == ({"name": ""}, {"name": "Sara"})
    assert decision.proposals == {"email": ("old@x.org", "new@x.org")}
    assert decision.notes == [
        ("email", "Email: your change to 'new@x.org' awaits an admin (shared value: 'old@x.org')")
    ]
    assert decision.leave == {"email"}


def test_clearing_a_shared_value_is_noted_and_not_applied():
    decision = merge({"name": None}, {"name": "Sara"}, {"name": "Sara"}, shared=True)
    assert decision.take == {} and decision.proposals == {}
    assert decision.notes == [("name", "Name is shared: clearing it is not applied (ask an admin)")]
    assert decision.leave == set()  # the write-back shows the shared value again


def test_a_pending_proposal_still_shown_stays_proposed():
    # The sheet still shows what the agent proposed (it equals the last-synced text).
    decision = merge(
        {"email": "new@x.org"},
        {"email": "old@x.org"},
        {"email": "new@x.org"},
        shared=True,
        proposed={"email": "new@x.org"},
    )
    assert decision.proposals == {"email": ("old@x.org", "new@x.org")}
    assert (
        merge(
            {"email": "new@x.org"}, {"email": "old@x.org"}, {"email": "new@x.org"}, shared=True
        ).proposals
        == {}
    )


def test_a_cell_that_could_not_be_read_is_noted_left_and_not_merged():
    decision = merge(
        {}, {"status": "New"}, None, shared=False, problems={"status": "bad"}, keys=["status"]
    )
    assert decision.take == {}
    assert decision.notes == [("status", "Status: bad; not synced")]
    assert decision.leave == {"status"}


def test_a_cut_text_reads_as_the_whole_one_and_a_changed_cut_text_is_refused():
    whole = "x" * (MAX_CELL_CHARS + 10)
    shown = cut_to_fit(whole, MAX_CELL_CHARS)
    assert merge({"notes": shown}, {"notes": whole}, {"notes": whole}, shared=False).take == {}
    changed = merge({"notes": "y" + shown[1:]}, {"notes": whole}, None, shared=False)
    assert changed.take == {}
    assert changed.leave == {"notes"}
    assert changed.notes[0][1].startswith("Remarks shows a text cut to fit this sheet")


texts = st.one_of(st.none(), st.sampled_from(["", "a", "b", " a ", "Completed"]))


@given(
    st.dictionaries(st.sampled_from(list(TITLES)), texts),
    st.dictionaries(st.sampled_from(list(TITLES)), texts),
    st.one_of(st.none(), st.dictionaries(st.sampled_from(list(TITLES)), texts.map(value_text))),
    st.booleans(),
)
def test_each_field_is_decided_by_the_three_way_rule(values, stored, base, shared):
    decision = merge(values, stored, base, shared=shared, keys=list(TITLES))
    for key in TITLES:
        mine, current = value_text(values.get(key)), value_text(stored.get(key))
        base_value = base.get(key) if base is not None else None
        if shared:
            action = merge_shared(base_value, mine, current)
            assert (key in decision.take) == (action is SharedAction.FILL)
            assert (key in decision.proposals) == (action is SharedAction.PROPOSE)
        else:
            action = merge_private(base_value, mine, current)
            assert (key in decision.take) == (action is PrivateAction.TAKE)
        if key in decision.take:
            assert decision.take[key] == values.get(key)
            assert (decision.before[key], decision.after[key]) == (current, mine)


CUT = cut_to_fit("a" * (MAX_CELL_CHARS + 5), MAX_CELL_CHARS)
texts_or_cut = st.one_of(texts, st.just(CUT))


@given(
    st.dictionaries(st.sampled_from(list(TITLES)), texts_or_cut),
    st.dictionaries(st.sampled_from(list(TITLES)), texts_or_cut),
    st.one_of(
        st.none(), st.dictionaries(st.sampled_from(list(TITLES)), texts_or_cut.map(value_text))
    ),
    st.booleans(),
    st.booleans(),
)
def test_a_row_as_last_synced_decides_nothing(values, stored, other_base, shared, same):
    """The rows an edited sheet did not change are not merged (sync.ingest): for them
    merge_fields must have nothing to decide, whatever the database holds now."""
    keys = list(TITLES)
    base = {k: value_text(values.get(k)) for k in keys} if same else other_base
    if as_last_synced(values, {}, keys, base):
        assert merge(values, stored, base, shared=shared, keys=keys) == FieldsDecision()
    else:
        assert not same or any(value_text(values.get(k)) == CUT for k in keys)


def test_a_row_with_a_changed_unreadable_or_new_field_is_merged():
    values = {"name": "Sara", "notes": "called"}
    base = {"name": "Sara", "notes": "called"}
    assert as_last_synced(values, {}, ["name", "notes"], base)
    assert not as_last_synced({**values, "notes": "called twice"}, {}, ["name", "notes"], base)
    assert not as_last_synced(values, {"notes": "bad"}, ["name", "notes"], base)
    assert not as_last_synced(values, {}, ["name", "notes", "email"], base)  # a new column
    assert not as_last_synced(values, {}, ["name"], None)  # a new row
