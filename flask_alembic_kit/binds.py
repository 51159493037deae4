"""More than one database: each Flask-SQLAlchemy bind has its own history, run by
the same ``alembic`` commands (docs/binds.md).

A bind ``audit`` is a model's ``__bind_key__ = "audit"`` and its URL,
``DATABASE_URL_AUDIT``; its history is where ``sections.py`` says (by convention
``alembic/binds/audit/``, or as an ``[audit]`` section of alembic.ini overrides).
Nothing of the default database's history changes when a bind is added.

A command run without ``-n`` runs on the default database, then, with the same
arguments, on each bind in turn (``check`` on the binds first, so that each
verdict comes under its heading): each database is migrated under its own run
lock, one at a time, and a failure names the database and stops there. A relative
step (``downgrade -1``) moves the default database only.
"""

import os
from collections.abc import Callable
from pathlib import Path

from alembic import context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from flask_alembic_kit.command_arguments import (
    has_revisions,
    named_by,
    refuse_one_history_options,
    relative_step,
)
from flask_alembic_kit.connection import connect
from flask_alembic_kit.errors import UNDO_ON_FAILURE
from flask_alembic_kit.internals import command_function, outer_context, reinstall
from flask_alembic_kit.project import FlaskProject
from flask_alembic_kit.run_lock import command_of, is_migrating
from flask_alembic_kit.sections import (
    DEFAULT_SECTION,
    history_config,
    one_database_option,
)
from flask_alembic_kit.settings import Settings
from flask_alembic_kit.urls import bind_urls, bind_variable, database_url


def bind_of(config: Config) -> str | None:
    """The bind a command runs on: its alembic.ini section, ``None`` for the
    default database."""
    section = config.config_ini_section
    return None if section == DEFAULT_SECTION else section


def chosen_database(config: Config) -> str | None:
    """The database ``-x bind=NAME`` chooses, if any: ``default`` or a bind."""
    if not getattr(config.cmd_opts, "x", None):  # no -x, or a caller's own options
        return None
    return context.get_x_argument(as_dictionary=True).get("bind")


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


def other_databases(config: Config, project: FlaskProject) -> list[Config]:
    """The config of each bind a command on the default database also runs on,
    every one checked before any database is touched. None for a bind's own run
    (``-n audit``), a caller's connection, or ``-x bind=default``; the one bind
    ``-x bind=audit`` chooses."""
    chosen = chosen_database(config)
    if bind_of(config) not in (None, chosen) and chosen is not None:
        raise CommandError(
            f"-n {bind_of(config)} and -x bind={chosen} name two databases: give one"
        )
    if bind_of(config) is not None or config.cmd_opts is None:
        return []
    if "connection" in config.attributes:  # a caller's one database
        return []
    if chosen == "default":
        return []
    names = project.bind_names()
    if chosen is not None and chosen not in names:
        databases = ", ".join(["default", *names])
        raise CommandError(
            f"-x bind={chosen} names no database: the databases are {databases}"
        )
    if chosen is not None and command_of(config) in AFTER_ENV_PY:
        # Alembic writes the file, or prints the verdict, of the default database
        # once env.py returns: only -n keeps such a command to the bind alone.
        raise CommandError(
            f"-x bind={chosen} cannot keep `alembic {command_of(config)}`"
            f" to one database: run alembic -n {chosen} "
            f"{command_of(config)} ..."
        )
    configs = bind_configs(config, [chosen] if chosen else names)
    refuse_one_history_options(config, configs)
    return configs


def bind_configs(config: Config, names: list[str]) -> list[Config]:
    """Each bind's config, once its section and URL are checked."""
    if not names:
        return []  # one database: nothing more to read
    default_url = database_url(os.environ.get("DATABASE_URL"))
    urls = bind_urls(names, warn=True)
    configs = []
    for name in names:
        if name == DEFAULT_SECTION:
            raise CommandError(
                f"a model's __bind_key__ is {name!r}, the name of the default "
                "database's section of alembic.ini: give the bind another name"
            )
        if urls[name] == default_url:
            raise CommandError(
                f"{bind_variable(name)} names the default database: give the "
                f"database {name!r} a database of its own"
            )
        configs.append(
            history_config(
                config.config_file_name,
                name,
                cmd_opts=config.cmd_opts,
                stdout=config.stdout,
            )
        )
    return configs


def check_binds_answer(
    config: Config, project: FlaskProject, others: list[Config]
) -> None:
    """Before a migration moves the default database, connect to each bind it
    will move and let go: a bind that does not answer fails the command now,
    naming it, rather than after the default database has changed. An SQLite
    file that does not exist yet is left to the bind's own run to create
    (``0600``): should the default database fail, no empty file is left behind."""
    if not is_migrating(config) or context.is_offline_mode():
        return
    for bind_config in others:
        if moves(config, bind_config, others):
            name = bind_config.config_ini_section
            try:
                # A missing SQLite file is left to the bind's own run to create:
                # a command that fails before it would leave it behind, empty.
                settings = Settings.from_environment()
                with connect(None, settings, project, name, create_file=False):
                    pass
            except CommandError as error:
                raise CommandError(f"database {name}: {error}") from error


# Commands whose outcome Alembic prints or writes after env.py returns: the verdict
# of ``check``, the file of ``revision``.
AFTER_ENV_PY = frozenset({"check", "revision"})


def binds_before_and_after_default(
    config: Config, others: list[Config]
) -> tuple[list[Config], list[Config]]:
    """The binds to run before the default database, and those to run after it.
    After, so that a failed migration leaves the default database migrated; but
    before for the commands whose outcome Alembic prints or writes once env.py
    returns (``check``'s verdict, ``revision``'s file), so that each database's
    lines come under its own heading, the default's last."""
    if others and command_of(config) in AFTER_ENV_PY:
        return others, []
    return [], others


def heading(config: Config, name: str) -> None:
    """Say which database the lines that follow are about: a line of its own, a SQL
    comment in a ``--sql`` script; flushed, as the log lines after it go to stderr."""
    comment = "--" if getattr(config.cmd_opts, "sql", False) else "#"
    config.print_stdout(f"{comment} database {name}")
    config.stdout.flush()


def moves(config: Config, bind_config: Config, others: list[Config]) -> bool:
    """Whether the command acts on this bind: not when the revision it names is
    another database's, nor for a relative step no ``-x bind=`` chose it for."""
    histories = [config, *(other for other in others if other is not bind_config)]
    script = ScriptDirectory.from_config(bind_config)
    if not runs_here(bind_config, script, histories):
        return False
    return not (relative_step(config.cmd_opts) and chosen_database(config) is None)


def run_on_binds(config: Config, others: list[Config]) -> None:
    """Run the command the user ran on each bind in turn: Alembic's same command
    function with the same arguments and the bind's config, which runs env.py
    again for that database.

    ``alembic check`` reports every database: a bind's differences are printed
    under its heading, and the command fails once the default database has been
    checked too (the call after it, with no bind left, raises)."""
    options = config.cmd_opts
    differing = config.attributes.setdefault("differing databases", [])
    for bind_config in others:
        name = bind_config.config_ini_section
        if not moves(config, bind_config, others):
            if step := relative_step(options):
                # "Undo my last revision" must not take a bind's history down too.
                heading(config, name)
                config.print_stdout(
                    f"not moved: a relative step ({step}) moves the default "
                    f"database only; alembic {one_database_option(bind_config)} "
                    f"{command_of(config)} {step} moves this one"
                )
            continue  # or the revision the command names is another database's
        heading(config, name)
        function, positional, keywords = command_function(options)
        outer = outer_context()  # Alembic's module-level context, of the default run
        try:
            written = function(
                bind_config,
                *[getattr(options, key) for key in positional],
                **{key: getattr(options, key, None) for key in keywords},
            )
            if command_of(config) == "revision":
                remove_if_default_fails(config, name, written)
        except CommandError as error:
            named = str(error)
            if not named.startswith(f"database {name}: "):  # env.py names its own
                named = f"database {name}: {error}"
            if command_of(config) != "check":
                raise CommandError(named) from error
            config.print_stdout(named.removeprefix(f"database {name}: "))
            differing.append(name)
        finally:
            reinstall(outer)  # the bind's run removed it
    if differing and not others:
        config.print_stdout("No new upgrade operations detected.")  # the default's
        raise CommandError(
            f"database {', '.join(differing)}: differs from its models (above)"
        )


def remove_if_default_fails(config: Config, name: str, written) -> None:
    """A bind's revision file is written before the default database's run: should
    that run fail, the file goes, so that a rerun does not write it twice."""
    scripts = written if isinstance(written, list) else [written]
    paths = [Path(script.path) for script in scripts if script is not None]

    def remove() -> str:
        for path in paths:
            path.unlink(missing_ok=True)
        return f"the revision file written for database {name} was removed"

    if paths:
        config.attributes.setdefault(UNDO_ON_FAILURE, []).append(remove)


def run_on_every_database(
    config: Config, project: FlaskProject, run_here: Callable[[], None]
) -> None:
    """Run the command on each database it is about: ``run_here`` runs it on the
    database of this env.py run (the default one, or ``-n NAME``'s); each other
    bind runs the same Alembic command again, with its own config, and so env.py
    again, under its heading. The binds run after the default database, or before
    it for ``check`` and ``revision`` (whose outcome Alembic prints or writes once
    env.py returns); every bind that will move is connected to first."""
    others = other_databases(config, project)
    check_binds_answer(config, project, others)
    before, after = binds_before_and_after_default(config, others)
    run_on_binds(config, before)
    if runs_here(config, context.script, others):
        if others:
            heading(config, "default")
        run_here()
    run_on_binds(config, after)
