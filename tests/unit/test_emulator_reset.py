"""Every table is placed in exactly one of the emulator reset's sets."""

import pytest

from tidings.db.schema import metadata
from tidings.emulator import reset


def test_every_table_is_placed_once():
    tables = {table.name for table in metadata.sorted_tables}
    placed = [reset.DATA, reset.DEFINITIONS, reset.KEPT]
    assert set().union(*placed) == tables, "place each new table in emulator/reset.py"
    assert sum(len(names) for names in placed) == len(tables), "a table is in two sets"


def test_what_a_person_owns_is_data():
    owners = {"people", "campaigns", "segments"}
    for table in metadata.sorted_tables:
        parents = {fk.column.table.name for fk in table.foreign_keys}
        if "people" in parents:
            assert table.name in reset.DATA, table.name
        if parents & owners and table.name not in reset.DATA:
            assert table.name in reset.DEFINITIONS, table.name


@pytest.mark.parametrize("everything", [False, True])
def test_nothing_kept_refers_to_what_a_reset_empties(everything):
    """What lets a reset empty the tables with the foreign keys off (`reset.empty`): no
    row left behind can point at one gone, and no cascade reaches past the tables emptied."""
    emptied = reset.DATA | reset.DEFINITIONS if everything else reset.DATA
    for table in metadata.sorted_tables:
        if table.name not in emptied:
            parents = {fk.column.table.name for fk in table.foreign_keys}
            assert not parents & emptied, (table.name, parents & emptied)
