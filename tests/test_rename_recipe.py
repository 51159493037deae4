"""The recipe "Renaming a column without downtime" (docs/deploys.md), followed step
by step on the fixture project with real HTTP servers under load: ``users.display_name``
becomes ``users.full_name`` in three releases, and no request fails.

1. Release 1 adds ``full_name`` (expand) and writes both columns.
2. Release 2 fills ``full_name`` where it is still empty (``fill_column``, once
   every instance writes both), makes ``display_name`` nullable, and reads
   ``full_name``, still writing both for release 1 while it rolls out.
3. Release 3 maps ``full_name`` alone; its contract revision drops
   ``display_name`` and makes ``full_name`` NOT NULL, once release 3 alone serves.
"""

import os
from pathlib import Path

import sqlalchemy as sa
from releases import copy_release, health, revision_file, sent, serve, settle, succeeded

from conftest import alembic_runner, audit_url_at_head, copy_project
from tools.rolling_deploy import Load

DISPLAY_NAME = "    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))\n"

# The README's model code, release by release.
RELEASE_1 = '''    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    full_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(80))

    @orm.validates("display_name")
    def write_full_name_too(self, key: str, value: str) -> str:
        """Release 1 writes both columns."""
        self.full_name = value
        return value
'''
RELEASE_2 = '''    full_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(80))
    # Still written, for release 1 while release 2 rolls out; nullable now.
    old_display_name: orm.Mapped[str | None] = orm.mapped_column(
        "display_name", sa.String(80)
    )
    display_name = orm.synonym("full_name")  # what the code calls it

    @orm.validates("full_name")
    def write_display_name_too(self, key: str, value: str) -> str:
        """Release 2 reads full_name and writes both."""
        self.old_display_name = value
        return value
'''
RELEASE_3 = """    full_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    display_name = orm.synonym("full_name")
"""

# Release 2's data step, written by hand under ``alembic revision -m``.
FILL = '''
from flask_alembic_kit.backfill import fill_column

# The users table as this revision sees it.
users = sa.Table(
    "users",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("display_name", sa.String(80)),
    sa.Column("full_name", sa.String(80)),
)


def upgrade() -> None:
    """Fill full_name from display_name where release 0 left it empty, or wrote
    display_name alone after release 1 had written both."""
    stale = users.c.full_name.is_distinct_from(users.c.display_name)
    fill_column(users, "full_name", users.c.display_name, where=stale)


def downgrade() -> None:
    """Nothing to undo: full_name keeps its values, display_name was not touched."""
'''


def release(source: Path, destination: Path, models: str) -> Path:
    """A copy of ``source`` whose ``User`` maps ``models`` instead of
    ``display_name`` (the fixture project's line, or the previous release's)."""
    copy_release(source, destination)
    path = destination / "app" / "models.py"
    text = path.read_text()
    old = next(each for each in (RELEASE_2, RELEASE_1, DISPLAY_NAME) if each in text)
    text = text.replace(old, models)
    path.write_text(text)
    return destination


def write_fill_revision(project: Path, alembic) -> None:
    """``alembic revision -m`` and the data step written into it by hand."""
    succeeded(alembic("revision", "-m", "fill users.full_name"))
    path = revision_file(project, "fill_users_full_name")
    text = path.read_text()
    text = text[: text.index("\n\ndef upgrade()")] + "\n" + FILL
    # A data step: the running release survives it (README).
    path.write_text(text.replace('phase: str = "mixed"', 'phase: str = "expand"'))


def names(url: sa.URL) -> dict[str, tuple[str | None, ...]]:
    """Each user's username, with the name columns the table has now."""
    engine = sa.create_engine(url)
    try:
        users = sa.Table("users", sa.MetaData(), autoload_with=engine)
        columns = [c for c in ("display_name", "full_name") if c in users.c]
        query = sa.select(users.c.username, *(users.c[c] for c in columns))
        with engine.connect() as connection:
            return {row[0]: tuple(row[1:]) for row in connection.execute(query)}
    finally:
        engine.dispose()


def test_renaming_a_column_in_three_releases_fails_no_request(
    tmp_path, fresh_database_url
):
    url = fresh_database_url.render_as_string(hide_password=False)
    settings = {
        "DATABASE_URL_AUDIT": audit_url_at_head(),
        "MIGRATION_GUARD_INTERVAL": "0.2",
    }
    environment = {**os.environ, **settings, "DATABASE_URL": url}
    r0 = copy_project(tmp_path / "r0")
    succeeded(alembic_runner(r0, url, **settings)("upgrade", "head"))

    servers = {"r0": serve(r0, environment)}
    for n in range(5):  # users who are never deleted
        user = {"username": f"kept{n}", "email": f"k{n}@x.org", "display_name": f"K{n}"}
        assert servers["r0"].post("/api/users", user)[0] == 201
    load = Load(servers["r0"].url, "release 0 serves", keep_every=4)
    load.start()
    try:
        previous = r0
        for number, models in enumerate((RELEASE_1, RELEASE_2, RELEASE_3), start=1):
            folder = release(previous, tmp_path / f"r{number}", models)
            alembic = alembic_runner(folder, url, **settings)
            message = f"release {number}"
            succeeded(alembic("revision", "--autogenerate", "-m", message))
            if number == 2:
                write_fill_revision(folder, alembic)
            load.during(f"release {number}: expand phase")
            succeeded(alembic("-x", "phase=expand", "upgrade", "head"))
            settle()
            load.during(f"release {number} starts")
            servers[folder.name] = serve(folder, environment)
            # Both serve for a while, as in a rolling deploy.
            load.serve_from(servers[previous.name].url, servers[folder.name].url)
            settle()
            load.serve_from(servers[folder.name].url)
            servers.pop(previous.name).stop()
            settle()
            previous = folder
        assert health(servers["r3"]) == (200, "contract_pending")
        load.during("release 3: contract step")
        succeeded(alembic("upgrade", "head"))
        settle()
        assert health(servers["r3"]) == (200, "ok")
    finally:
        load.stop()
        for server in servers.values():
            server.stop()

    assert load.failures == []
    assert [sent(load, step) > 0 for step in load.answers] == [True] * 8
    rows = names(fresh_database_url)
    assert {f"kept{n}": (f"K{n}",) for n in range(5)}.items() <= rows.items()
    assert len(rows) > 5  # rows the load kept, written by every release
    # Each kept user was renamed, by whichever release answered the PATCH.
    assert all(
        full_name == f"{user} renamed"
        for user, (full_name,) in rows.items()
        if user.startswith("user")
    )
