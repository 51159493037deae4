"""Data preservation: rows written before a revision outlive its up and down."""

import pytest

from conftest import SECTIONS, Database, insert_sample_rows, kept, revisions


@pytest.mark.parametrize("section", SECTIONS)
def test_every_revision_keeps_existing_rows(database, section):
    """Each database's history, each revision up and down with rows in place.
    A history's first revision creates its tables: rows are kept from the second
    on (the audit history has one revision yet, and gains the check with its next)."""
    database = Database(database.url, database.engine, section=section)
    history = revisions(section)
    for revision in history:
        insert_sample_rows(database)
        before = database.rows()

        database.upgrade(revision.revision)
        upgraded = database.rows()
        was, now = kept(before, upgraded)
        assert now == was

        database.downgrade(revision.down_revision or "base")
        # What the upgrade kept comes back as it was (a column it dropped, its
        # downgrade can only add again, empty or with its default).
        was, now = kept(before, database.rows(), upgraded)
        assert now == was

        database.upgrade(revision.revision)
    rows_written = sum(len(rows) for rows in database.rows().values())
    if len(history) > 1:
        assert rows_written >= 2 * 3
    else:  # one revision: it made the tables, and no revision came after it
        assert rows_written == 0
