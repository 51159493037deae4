"""What real applications' models have and the reference app's do not: tables that
reference each other (a team and its captain), and keys that start with the same
column. The revision is generated on SQLite, as the everyday workflow does, and
applied on every configured database; names shared by two keys are refused."""

import re

import pytest
import sqlalchemy as sa

from conftest import alembic_runner, configured_backends, copy_project, fresh_url

# Models that a real application has (issue 21): a foreign-key cycle, one side
# ON DELETE SET NULL, and two unique constraints starting with the same column.
TEAMS_AND_PLAYERS = '''

class Team(db.Model):
    """A team, whose captain is one of its players."""

    __tablename__ = "teams"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(40))
    captain_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("players.id", ondelete="SET NULL")
    )


class Player(db.Model):
    """A player of a team, with a shirt number and a position unique in it."""

    __tablename__ = "players"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    team_id: orm.Mapped[int | None] = orm.mapped_column(sa.ForeignKey("teams.id"))
    number: orm.Mapped[int] = orm.mapped_column()
    position: orm.Mapped[str] = orm.mapped_column(sa.String(20))
    mentor_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("players.id", use_alter=True, name="fk_player_mentor")
    )
    __table_args__ = (
        sa.UniqueConstraint("team_id", "number"),
        sa.UniqueConstraint("team_id", "position"),
    )
'''


def add_models(project, text: str) -> None:
    """Append model classes to the copy's app/models.py."""
    models = project / "app" / "models.py"
    models.write_text(models.read_text() + text)


def generate_on_sqlite(project, database, message: str):
    """``alembic revision --autogenerate`` on the SQLite file ``database`` brought
    to head first, as the everyday workflow does; its output."""
    on_sqlite = alembic_runner(project, f"sqlite:///{database}")
    assert on_sqlite("upgrade", "head").returncode == 0
    result = on_sqlite("revision", "--autogenerate", "-m", message)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def up_and_clean(alembic) -> None:
    """``alembic upgrade head``, then ``alembic check`` clean."""
    for command in (("upgrade", "head"), ("check",)):
        result = alembic(*command)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def generated(tmp_path):
    """A copy of the project with the models above and the revision that
    ``alembic revision --autogenerate`` wrote for them on SQLite."""
    project = copy_project(tmp_path / "project")
    add_models(project, TEAMS_AND_PLAYERS)
    result = generate_on_sqlite(
        project, tmp_path / "generate.sqlite", "Teams and players"
    )
    assert "Cannot correctly sort tables" not in result.stderr
    [path] = (project / "alembic" / "versions").glob("*_teams_and_players.py")
    return project, path.read_text()


def test_a_cycle_is_closed_after_both_tables_exist(generated):
    """Each ``create_table`` holds the keys to tables created before it; the key
    that closes the cycle is added after both, and dropped first going down."""
    _, source = generated
    upgrade, downgrade = source.split("def downgrade")
    order = re.findall(
        r'create_table\(\s*"(\w+)"|create_foreign_key\(\s*(?:batch_op\.f\()?"(\w+)"',
        upgrade,
    )
    assert ["".join(names) for names in order] == [
        "teams",
        "players",
        "fk_player_mentor",  # use_alter: CREATE TABLE leaves it out on the servers
        "fk_teams_captain_id_players",
    ]
    assert 'ondelete="SET NULL"' in upgrade
    assert downgrade.index("drop_constraint") < downgrade.index('drop_table("players")')


@pytest.mark.parametrize("backend", configured_backends())
def test_a_cycle_generated_on_sqlite_applies_everywhere(generated, backend, tmp_path):
    """The revision written on SQLite goes up, is clean, keeps rows that use both
    keys, goes down and up again, on every database; the keys sharing a first
    column are two constraints there, each with its own columns."""
    project, _ = generated
    with fresh_url(backend, tmp_path / "apply.sqlite") as url:
        alembic = alembic_runner(project, url)
        up_and_clean(alembic)
        engine = sa.create_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "INSERT INTO teams (id, name) VALUES (1, 'A')"
                )
                connection.exec_driver_sql(
                    "INSERT INTO players (id, team_id, number, position)"
                    " VALUES (7, 1, 10, 'keeper')"
                )
                connection.exec_driver_sql("UPDATE teams SET captain_id = 7")
            inspector = sa.inspect(engine)
            uniques = {
                tuple(each["column_names"])
                for each in inspector.get_unique_constraints("players")
            }
            assert uniques == {("team_id", "number"), ("team_id", "position")}
            mentor = [
                key["referred_table"]
                for key in inspector.get_foreign_keys("players")
                if key["constrained_columns"] == ["mentor_id"]
            ]
            assert mentor == ["players"]
            [captain] = inspector.get_foreign_keys("teams")
            assert (captain["referred_table"], captain["options"].get("ondelete")) == (
                "players",
                "SET NULL",
            )
            with engine.begin() as connection:
                connection.exec_driver_sql("DELETE FROM players")
                captains = connection.exec_driver_sql("SELECT captain_id FROM teams")
                assert captains.all() == [(None,)]  # ON DELETE SET NULL held
            for command in (("downgrade", "-1"), ("upgrade", "head"), ("check",)):
                result = alembic(*command)
                assert result.returncode == 0, result.stdout + result.stderr
        finally:
            engine.dispose()


@pytest.fixture
def dropped(generated, tmp_path):
    """The copy with a second revision, generated on SQLite once the models of
    the cycle are gone: it drops both tables."""
    project, _ = generated
    models = project / "app" / "models.py"
    models.write_text(models.read_text().replace(TEAMS_AND_PLAYERS, ""))
    generate_on_sqlite(project, tmp_path / "generate.sqlite", "No more teams")
    [path] = (project / "alembic" / "versions").glob("*_no_more_teams.py")
    return project, path.read_text()


@pytest.mark.parametrize("backend", configured_backends())
def test_a_cycle_dropped_is_opened_first(dropped, backend, tmp_path):
    """Dropping both tables drops the closing key first; the downgrade creates
    both, then adds it back; up, down and up again on every database."""
    project, source = dropped
    upgrade, downgrade = source.split("def downgrade")
    assert upgrade.index("drop_constraint") < upgrade.index("drop_table")
    assert downgrade.rindex("create_table") < downgrade.index("create_foreign_key")
    with fresh_url(backend, tmp_path / "apply.sqlite") as url:
        alembic = alembic_runner(project, url)
        for command in (
            ("upgrade", "head"),
            ("check",),
            ("downgrade", "-1"),
            ("upgrade", "head"),
        ):
            result = alembic(*command)
            assert result.returncode == 0, (command, result.stdout + result.stderr)


def test_the_postgresql_script_adds_the_closing_key_after_both_tables(generated):
    """``alembic upgrade A:B --sql`` renders the same order, no connection made."""
    project, _ = generated
    alembic = alembic_runner(project, "postgresql://nobody@127.0.0.1:1/none")
    result = alembic("upgrade", "bb4b390c7d31:head", "--sql")
    assert result.returncode == 0, result.stdout + result.stderr
    script = result.stdout
    assert (
        script.index("CREATE TABLE teams")
        < script.index("CREATE TABLE players")
        < script.index(
            "ALTER TABLE teams ADD CONSTRAINT fk_teams_captain_id_players FOREIGN KEY"
        )
    )


SHARED_NAME = '''

class Slot(db.Model):
    """Two keys given one name by hand."""

    __tablename__ = "slots"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    day: orm.Mapped[int] = orm.mapped_column()
    room: orm.Mapped[int] = orm.mapped_column()
    __table_args__ = (
        sa.UniqueConstraint("day", name="uq_slot_key"),
        sa.Index("uq_slot_key", "room"),
    )
'''


def test_two_keys_of_one_name_are_refused_in_one_line(tmp_path):
    """No server would run a revision with both: autogenerate and check refuse the
    models in one line naming both, and no file is written."""
    project = copy_project(tmp_path / "project")
    add_models(project, SHARED_NAME)
    alembic = alembic_runner(project, f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert alembic("upgrade", "head").returncode == 0
    files = set((project / "alembic" / "versions").glob("*.py"))

    for command in (("check",), ("revision", "--autogenerate", "-m", "slots")):
        result = alembic(*command)
        assert result.returncode != 0
        [line] = [line for line in result.stdout.splitlines() if "FAILED" in line]
        assert line == (
            "FAILED: Index(room) of slots and UniqueConstraint(day) of slots are both "
            "named uq_slot_key: give one of them a name of its own (name=...)"
        )
        assert "Traceback" not in result.stderr
    assert set((project / "alembic" / "versions").glob("*.py")) == files


def test_check_constraints_are_named_with_or_without_a_name_of_their_own():
    """The convention names a CHECK the model named (``ck_<table>_<name>``, as
    ever) and one it did not, which ``%(constraint_name)s`` alone refuses (a
    traceback on pgAdmin's models), by a digest of its expression."""
    from flask_alembic_kit.conventions import NAMING_CONVENTION

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    table = sa.Table(
        "t",
        metadata,
        sa.Column("x", sa.Integer, sa.CheckConstraint("x > 0")),
        sa.Column("y", sa.Integer),
        sa.CheckConstraint("y < 5", name="small_y"),
        sa.Column(
            "kind",
            sa.Enum("a", "b", name="kind", native_enum=False, create_constraint=True),
        ),
    )
    constraints = [*table.constraints, *table.c.x.constraints]
    names = {
        constraint.name
        for constraint in constraints
        if isinstance(constraint, sa.CheckConstraint)
    }
    assert {"ck_t_small_y", "ck_t_kind"} < names
    [digest] = names - {"ck_t_small_y", "ck_t_kind"}
    assert re.fullmatch(r"ck_t_[0-9a-f]{8}", digest)


UNNAMED_CHECK = '''

class Reading(db.Model):
    """A reading whose CHECK constraint has no name of its own."""

    __tablename__ = "readings"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    value: orm.Mapped[int] = orm.mapped_column(sa.CheckConstraint("value >= 0"))
'''


@pytest.mark.parametrize("backend", configured_backends())
def test_an_unnamed_check_generated_on_sqlite_holds_everywhere(backend, tmp_path):
    """Generated on SQLite, applied on each database: check is clean and the
    constraint refuses a row that breaks it."""
    project = copy_project(tmp_path / "project")
    add_models(project, UNNAMED_CHECK)
    generate_on_sqlite(project, tmp_path / "generate.sqlite", "Readings")
    with fresh_url(backend, tmp_path / "apply.sqlite") as url:
        up_and_clean(alembic_runner(project, url))
        engine = sa.create_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("INSERT INTO readings (value) VALUES (1)")
            with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:
                connection.exec_driver_sql("INSERT INTO readings (value) VALUES (-1)")
        finally:
            engine.dispose()
