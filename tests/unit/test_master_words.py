"""The master's Conflicts tab says each conflict's details in words (sync.master)."""

from __future__ import annotations

from typing import Any

import pytest

from sync.admin.core import AdminError
from sync.admin.from_master import parse_action
from sync.master import details_in_words

CASES: list[tuple[dict[str, Any], str | None]] = [
    # what a cycle records for a row of an agent's tab (invalid phone, shared field, identity)
    ({"tab": "Customers", "row": 5, "values": {"name": "Ahmed"}}, "row 5 of the Customers tab"),
    (
        {"tab": "Customers", "row": 7, "same_as_row": 3, "values": {}},
        "row 7 of the Customers tab, the same phone as row 3",
    ),
    # possible duplicates, found by a cycle or the import
    (
        {"customers": ["CUS-1", "CUS-2"], "phones": ["+20 1", "+20 2"], "same": "email"},
        "CUS-1 and CUS-2 have the same email",
    ),
    (
        {"customers": ["CUS-1", "CUS-2"], "same": "name and date of birth"},
        "CUS-1 and CUS-2 have the same name and date of birth",
    ),
    # the import's proposals: every row that proposed a value
    (
        {"tab": "import", "source": "legacy.csv", "row": 4, "values": {"4": "a", "9": "b"}},
        "the import of legacy.csv: row 4 says 'a', row 9 says 'b'",
    ),
    # a message written where the conflict is opened wins (quarantine, races, failing sheets)
    (
        {"source": "s", "tab": "Customers", "reason": "r", "message": "Ali's tab lost 40 rows"},
        "Ali's tab lost 40 rows",
    ),
    ({"agents": ["ali", "sara"], "message": "ali and sara completed"}, "ali and sara completed"),
    # nothing to say; keys of no sentence are said as they are, without the row's values
    ({}, None),
    ({"values": {"name": "x"}}, None),
    ({"reason": "odd"}, "reason odd"),
]


@pytest.mark.parametrize(("details", "words"), CASES)
def test_details_in_words(details: dict[str, Any], words: str | None) -> None:
    assert details_in_words(details) == words


def test_admin_actions_typed_in_the_master():
    assert parse_action("Delete: test entry") == ("delete", "test entry")
    assert parse_action("delete  typed twice") == ("delete", "typed twice")
    assert parse_action("حذف: مكرر") == ("delete", "مكرر")
    assert parse_action(" restore ") == ("restore", "")
    assert parse_action("استعادة") == ("restore", "")
    assert parse_action("delete") == ("delete", "")  # refused by delete_customer: no reason
    for wrong in ("remove it", "restore: now", "deleted"):
        with pytest.raises(AdminError, match="is not an admin action"):
            parse_action(wrong)
