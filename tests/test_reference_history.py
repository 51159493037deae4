"""The reference app's own revisions: its display-name data step (add nullable,
backfill from ``username``, set NOT NULL) does what its file says on every
database, online and as ``--sql``.

Unlike the rest of the suite's tests of the history, these name one revision of
the reference app: when you squash that revision away or rewrite it, change or
delete this file with it (README, Tests). Your own data steps deserve tests like
these, next to them.
"""

import pytest
import sqlalchemy as sa
from test_offline import DIALECT_URLS, render_sql

from conftest import insert_sample_rows

# What the data-step revision must render as on each dialect for its NOT NULL step.
SET_NOT_NULL = {
    "sqlite": "ALTER TABLE _alembic_tmp_users RENAME TO users",
    "postgresql": "ALTER TABLE users ALTER COLUMN display_name SET NOT NULL",
    "mysql": "ALTER TABLE users MODIFY display_name VARCHAR(80) NOT NULL",
}


def display_name_revision_of(history):
    """The reference app's revision that adds and fills ``users.display_name``."""
    return next(r for r in history if "display name" in r.doc.lower())


def test_display_name_is_backfilled_from_username(database, history):
    display_name_revision = display_name_revision_of(history)
    database.upgrade(display_name_revision.down_revision)
    insert_sample_rows(database, per_table=5)
    usernames = [row["username"] for row in database.rows()["users"]]

    database.upgrade(display_name_revision.revision)

    users = database.rows()["users"]
    assert [row["display_name"] for row in users] == usernames
    column = next(
        c
        for c in sa.inspect(database.engine).get_columns("users")
        if c["name"] == "display_name"
    )
    assert column["nullable"] is False


def test_posts_survive_the_users_table_being_rebuilt(database, history):
    """On SQLite batch mode copies, drops and renames ``users``: with foreign keys
    enforced the drop would take every post with it (ON DELETE CASCADE)."""
    display_name_revision = display_name_revision_of(history)
    database.upgrade(display_name_revision.down_revision)
    insert_sample_rows(database)
    posts = database.rows()["posts"]
    assert len(posts) == 3

    database.upgrade("head")
    database.downgrade(display_name_revision.down_revision)

    assert database.rows()["posts"] == posts


@pytest.mark.parametrize("dialect", DIALECT_URLS)
def test_data_step_renders_as_set_based_sql(monkeypatch, dialect, history):
    """The reference app's display-name revision, rendered with what comes before
    it (a later revision of the team's may need the database on SQLite)."""
    step = display_name_revision_of(history)
    sql = render_sql(monkeypatch, dialect, f"base:{step.revision}")
    assert "UPDATE users SET display_name=users.username" in sql
    assert SET_NOT_NULL[dialect] in sql
