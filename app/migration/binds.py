"""More than one database: each Flask-SQLAlchemy bind has its own history, run by
the same ``alembic`` commands (README, "More than one database").

A bind ``audit`` is configured by ``DATABASE_URL_AUDIT`` and declared by an
``[audit]`` section of alembic.ini: Alembic's own way to keep several environments
in one file (``alembic -n audit ...`` acts on that database alone). The section
names its revision folder (``version_locations``) and its version table. Nothing of
the default database's history changes when a bind is added.

A command run without ``-n`` runs on the default database first, then, with the
same arguments, on each bind in turn: each database is migrated under its own run
lock, one at a time, and a failure names the database and stops there.
"""

import os
import re

from alembic import context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from app.config import bind_urls, bind_variable, database_url
from app.db import db
from app.migration.connection import connect
from app.migration.run_lock import is_migrating
from app.migration.settings import Settings

DEFAULT_SECTION = "alembic"

# A revision argument that names revisions (``ab12``, ``ab12:cd34``, ``ab12@head``)
# rather than a place every history has (``head``, ``base``, ``-1``).
NAMED_REVISION = re.compile(r"[0-9a-f]{4,}", re.IGNORECASE)

# A step relative to where each database is: ``-1``, ``+2``.
RELATIVE_STEP = re.compile(r"[+-]\d+")


def bind_of(config: Config) -> str | None:
    """The bind a command runs on: its alembic.ini section, ``None`` for the
    default database."""
    section = config.config_ini_section
    return None if section == DEFAULT_SECTION else section


def metadata_of(bind: str | None):
    """The models' tables of a database: the default one's, or a bind's."""
    if bind not in db.metadatas:
        raise CommandError(
            f"no model uses the database {bind!r}: give the models of alembic.ini's "
            f"[{bind}] section __bind_key__ = {bind!r}"
        )
    return db.metadatas[bind]


def names_revisions(argument: str | None) -> list[str]:
    """The revision ids a command's argument names: ``ab12:cd34`` names two,
    ``ab12@head`` and ``ab12-1`` one; ``head``, ``base`` and ``-1`` none."""
    if not argument:
        return []
    parts = [re.sub(r"@.*|[-+]\d+$", "", part) for part in str(argument).split(":")]
    return [part for part in parts if NAMED_REVISION.fullmatch(part)]


def has_revisions(script: ScriptDirectory, revisions: list[str]) -> bool:
    """Whether a history has every one of these revision ids."""
    try:
        return all(script.get_revision(each) is not None for each in revisions)
    except CommandError:
        return False


def named_by(options) -> list[str]:
    """The revision ids a command names: ``upgrade ab12``, ``stamp ab12 cd34``."""
    arguments = getattr(options, "revisions", None) or [
        getattr(options, "revision", None)
    ]
    return [name for argument in arguments for name in names_revisions(argument)]


def chosen_database(config: Config) -> str | None:
    """The database ``-x bind=NAME`` chooses, if any: ``default`` or a bind."""
    if config.cmd_opts is None:
        return None
    return context.get_x_argument(as_dictionary=True).get("bind")


def relative_step(options) -> str | None:
    """The relative step a command takes (``downgrade -1``, ``upgrade +2``)."""
    argument = getattr(options, "revision", None)
    return argument if argument and RELATIVE_STEP.fullmatch(argument) else None


def runs_here(config: Config, script: ScriptDirectory, others: list[Config]) -> bool:
    """Whether the command is about this database: not when ``-x bind=`` chooses
    another, or the revision it names (``alembic downgrade ab12``) is in another
    database's history instead. A revision no history has is left to Alembic,
    which says so."""
    if bind_of(config) is None and chosen_database(config) not in (None, "default"):
        return False
    named = named_by(config.cmd_opts)
    if not named or has_revisions(script, named) or not others:
        return True
    return not any(
        has_revisions(ScriptDirectory.from_config(other), named) for other in others
    )


def other_databases(config: Config) -> list[Config]:
    """The config of each bind a command on the default database also runs on,
    every one checked before any database is touched. None for a bind's own run
    (``-n audit``), a caller's connection, or ``-x bind=default``."""
    if bind_of(config) is not None or config.cmd_opts is None:
        return []
    if "connection" in config.attributes:  # a caller's one database
        return []
    chosen = chosen_database(config)
    if chosen == "default":
        return []
    names = sorted(key for key in db.metadatas if key)
    if chosen is not None and chosen not in names:
        databases = ", ".join(["default", *names])
        raise CommandError(
            f"-x bind={chosen} names no database: the databases are {databases}"
        )
    if not names:
        return []  # one database: nothing more to read
    urls = bind_urls(names)
    default_url = database_url(os.environ.get("DATABASE_URL"))
    sections = set(config.file_config.sections())
    configs = []
    for name in names:
        if name == DEFAULT_SECTION or name not in sections:
            raise CommandError(
                f"the models use the database {name!r} (__bind_key__), but "
                f"alembic.ini has no [{name}] section for its history: add one "
                '(README, "More than one database")'
            )
        if urls[name] == default_url:
            raise CommandError(
                f"{bind_variable(name)} names the default database: give the "
                f"database {name!r} a database of its own"
            )
        configs.append(
            Config(
                config.config_file_name,
                ini_section=name,
                cmd_opts=config.cmd_opts,
                stdout=config.stdout,
            )
        )
    chosen_configs = [each for each in configs if each.config_ini_section == chosen]
    configs = chosen_configs if chosen else configs
    if is_migrating(config) and not context.is_offline_mode():
        for each in configs:
            answers(each.config_ini_section)
    return configs


def answers(name: str) -> None:
    """Connect to a bind's database and let go: a migration that would reach it
    after the default database has changed fails now instead, naming it."""
    try:
        with connect(None, Settings.from_environment(), name):
            pass
    except CommandError as error:
        raise CommandError(f"database {name}: {error}") from error


# Commands whose last line Alembic prints after env.py returns (check's verdict):
# their binds run before the default database, so each line is under its heading.
VERDICT_AFTER_ENV = frozenset({"check"})


def before_and_after(config: Config, others: list[Config]) -> tuple[list, list]:
    """The binds to run before the default database, and those to run after it:
    after, so that a failing migration leaves the default database migrated, but
    before for ``alembic check``."""
    if others and function_name(config.cmd_opts) in VERDICT_AFTER_ENV:
        return others, []
    return [], others


def function_name(options) -> str:
    """The name of the ``alembic`` command being run: ``upgrade``, ``check``."""
    return options.cmd[0].__name__


def heading(config: Config, name: str) -> None:
    """Say which database the lines that follow are about: a line of its own, a SQL
    comment in a ``--sql`` script."""
    comment = "--" if getattr(config.cmd_opts, "sql", False) else "#"
    config.print_stdout(f"{comment} database {name}")


def run_on_binds(config: Config, others: list[Config]) -> None:
    """Run the command the user ran on each other database in turn, after the
    default one: the same function with the same arguments, and the bind's config."""
    options = config.cmd_opts
    for bind_config in others:
        name = bind_config.config_ini_section
        histories = [config, *(other for other in others if other is not bind_config)]
        script = ScriptDirectory.from_config(bind_config)
        if not runs_here(bind_config, script, histories):
            continue  # the revision the command names is another database's
        heading(config, name)
        step = relative_step(options)
        if step and chosen_database(config) is None:
            # "Undo my last revision" must not take a bind's history down with it.
            config.print_stdout(
                f"not moved: a relative step ({step}) moves the default database "
                f"only; alembic -n {name} {function_name(options)} {step} moves "
                "this one"
            )
            continue
        function, positional, keywords = options.cmd
        outer = context._proxy  # Alembic's module-level context, of the default run
        try:
            function(
                bind_config,
                *[getattr(options, key) for key in positional],
                **{key: getattr(options, key, None) for key in keywords},
            )
        except CommandError as error:
            if str(error).startswith(f"database {name}: "):
                raise  # env.py named it
            raise CommandError(f"database {name}: {error}") from error
        finally:
            outer._install_proxy()  # the bind's run removed it
