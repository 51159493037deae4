"""What ``alembic revision --autogenerate`` and ``alembic check`` compare, and how
the revision file is written: the options env.py passes to ``context.configure``.

- ``render_item`` (``rendering.py``): server defaults and reflected types written so
  that the file runs on SQLite, PostgreSQL and MariaDB alike.
- ``compare_server_default`` (``defaults.py``): defaults compared by meaning, so
  that ``alembic check`` is clean right after ``alembic upgrade head`` everywhere.
- ``autogenerate_plugins``: Alembic's own comparators, plus named CHECK constraints
  and expression indexes on SQLite (``expression_indexes.py``).
- ``process_revision_directives``: models whose constraints or indexes share a
  name refused (``names.py``); tables and columns in an order the databases
  accept, the same on every run, foreign-key cycles closed after their tables
  (``ordering.py``); renamed tables, columns and Enum
  values asked about (``renames/``, ``enums/value_changes.py``); Enum values and
  PostgreSQL enum types (``enums/``); comments kept through MariaDB's ``MODIFY``;
  ``alembic check`` prints each difference as the operation a revision would
  contain; no file when nothing changed; what the author is told beside the file,
  and the revision's deploy phase (``revision_notes.py``).
"""

import logging
import re

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.runtime.plugins import Plugin
from alembic.util import CommandError

from flask_alembic_kit import defaults, expression_indexes, revision_notes
from flask_alembic_kit.enums import types as enum_types
from flask_alembic_kit.enums import value_changes as enum_value_changes
from flask_alembic_kit.enums import values as enum_values
from flask_alembic_kit.internals import is_type_bound
from flask_alembic_kit.names import refuse_shared_names
from flask_alembic_kit.ordering import dependency_order, indexes_go_with_their_table
from flask_alembic_kit.renames import columns as column_renames
from flask_alembic_kit.renames import tables as table_renames
from flask_alembic_kit.rendering import render_item
from flask_alembic_kit.run_lock import command_of
from flask_alembic_kit.serving import kit_tables
from flask_alembic_kit.state import quiet_context

log = logging.getLogger("alembic.env")

# Alembic's comparators, the opt-in one that detects named CHECK constraints added to
# or removed from a model (opt-in again since Alembic 1.19.2), and ours.
AUTOGENERATE_PLUGINS = [
    "alembic.autogenerate.*",
    "alembic.ext.checkconstraint_byname",
    expression_indexes.NAME,
    enum_value_changes.NAME,
]
Plugin.setup_plugin_from_module(expression_indexes, expression_indexes.NAME)
Plugin.setup_plugin_from_module(enum_value_changes, enum_value_changes.NAME)


class CompareByMeaning:
    """Alembic's ``compare_server_default`` hook: True when the defaults differ in
    meaning (``'1'`` and ``sa.true()`` do not), None for forms left to Alembic. A
    class for its name in Alembic's log line ("User defined function ...")."""

    def __call__(self, context, inspected_column, metadata_column, *_) -> bool | None:
        """Compare the reflected column's default with the model's."""
        return defaults.differ(
            inspected_column.server_default,
            metadata_column.server_default,
            metadata_column.type,
        )

    def __repr__(self) -> str:
        """How Alembic's log names it."""
        return "comparison by meaning"


def as_python(operation, migration_context: MigrationContext) -> str:
    """One operation as the single line of Python a revision would contain."""
    code = render_python_code(
        ops.UpgradeOps(ops=[operation]),
        render_as_batch=False,
        render_item=render_item,
        migration_context=migration_context,
    )
    lines = [line.strip() for line in code.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith("#"))
    return re.sub(r"([(\[]) | ([)\]])", r"\1\2", text)


def differences(script: ops.MigrationScript, dialect) -> list[str]:
    """Each operation of the upgrade, one line each, a table's ops under their table."""
    context = quiet_context(dialect=dialect)
    lines = []
    for upgrade_ops in script.upgrade_ops_list:
        for operation in upgrade_ops.ops:
            if isinstance(operation, ops.ModifyTableOps):
                lines += [
                    as_python(
                        ops.ModifyTableOps(
                            operation.table_name, [each], schema=operation.schema
                        ),
                        context,
                    )
                    for each in operation.ops
                ]
            else:
                lines.append(as_python(operation, context))
    return lines


def keep_comments(script: ops.MigrationScript, metadata) -> None:
    """Give every ``alter_column`` and ``alter_enum_values`` the column's comment as
    ``existing_comment``, from the models, where the database did not say it (SQLite
    keeps no comments): MariaDB's ``MODIFY`` restates the whole column, and would
    drop the comment."""
    for container in (*script.upgrade_ops_list, *script.downgrade_ops_list):
        for operation in container.ops:
            if isinstance(operation, enum_values.AlterEnumValuesOp):
                if operation.kw.get("existing_comment") is None:
                    comment = model_comment(metadata, operation)
                    operation.kw["existing_comment"] = comment
                continue
            if not isinstance(operation, ops.ModifyTableOps):
                continue
            for each in operation.ops:
                if (
                    isinstance(each, ops.AlterColumnOp)
                    and each.existing_comment is None
                    and each.modify_comment is False
                ):
                    each.existing_comment = model_comment(
                        metadata, each, operation.table_name
                    )


def model_comment(metadata, operation, table_name: str | None = None) -> str | None:
    """The models' comment of the column an op is about, if the models have it."""
    table = metadata.tables.get(table_name or operation.table_name)
    if table is None or operation.column_name not in table.c:
        return None
    return table.c[operation.column_name].comment


def ask_about_renames(script: ops.MigrationScript, dialect) -> None:
    """Ask about every probable rename of a table, a column or an Enum value in the
    upgrade (on a terminal; otherwise a comment), then derive the downgrade again."""
    for upgrade_ops, downgrade_ops in zip(
        script.upgrade_ops_list, script.downgrade_ops_list, strict=True
    ):
        table_renames.ask_about_table_renames(upgrade_ops)
        column_renames.ask_about_column_renames(upgrade_ops, dialect)
        enum_value_changes.ask_about_value_renames(upgrade_ops)
        enum_value_changes.values_in_order(upgrade_ops)  # a rename drops nothing
        upgrade_ops.reverse_into(downgrade_ops)
        enum_value_changes.values_in_order(downgrade_ops)
        column_renames.notes_first(downgrade_ops)


def column_checks_written(script: ops.MigrationScript) -> None:
    """The CHECK constraints a model puts on a column
    (``mapped_column(sa.CheckConstraint("value >= 0"))``) written into the file:
    Alembic writes a created table's and an added column's without them, and
    ``alembic check`` then finds them missing. A created table gets them among its
    constraints, an added column a ``create_check_constraint`` after it."""
    for container in script.upgrade_ops_list:
        for operation in container.ops:
            if isinstance(operation, ops.CreateTableOp):
                operation.columns = list(operation.columns) + [
                    sa.CheckConstraint(check.sqltext, name=check.name)
                    for column in operation.columns
                    if isinstance(column, sa.Column)
                    for check in column_checks(column)
                ]
            elif isinstance(operation, ops.ModifyTableOps):
                for add in [o for o in operation.ops if isinstance(o, ops.AddColumnOp)]:
                    index = operation.ops.index(add) + 1
                    operation.ops[index:index] = [
                        ops.CreateCheckConstraintOp(
                            check.name, operation.table_name, check.sqltext
                        )
                        for check in column_checks(add.column)
                    ]


def column_checks(column: sa.Column) -> list[sa.CheckConstraint]:
    """A column's own CHECK constraints (not an Enum's or a Boolean's)."""
    return [
        constraint
        for constraint in column.constraints
        if isinstance(constraint, sa.CheckConstraint) and not is_type_bound(constraint)
    ]


def shape_revision(context, revision, directives) -> None:
    """Alembic's ``process_revision_directives`` hook."""
    script = directives[0]
    command = command_of(context.config)
    refuse_shared_names(context.opts["target_metadata"])
    column_checks_written(script)
    dependency_order(script)
    enum_value_changes.portable_value_changes(script)
    if command == "revision":
        ask_about_renames(script, context.dialect)
    metadata = context.opts["target_metadata"]
    enum_types.with_enum_types(script, metadata)
    keep_comments(script, metadata)
    indexes_go_with_their_table(script)
    empty = all(upgrade_ops.is_empty() for upgrade_ops in script.upgrade_ops_list)
    if command == "check" and not empty:
        lines = "\n".join(f"  {line}" for line in differences(script, context.dialect))
        raise CommandError(
            "the database and the models differ; a revision would contain:\n"
            f'{lines}\nWrite it with: alembic revision --autogenerate -m "..."'
        )
    if empty and getattr(context.config.cmd_opts, "autogenerate", False):
        directives[:] = []
        log.info("No changes in schema detected; no revision file written.")
    elif command == "revision":
        revision_notes.say_what_fails_on_rows(script)
        revision_notes.say_what_a_database_refuses(script)
        revision_notes.mark_phase(context, script)


def models_tables_only(version_table: str):
    """Alembic's ``include_name`` hook: autogenerate leaves the history's serving
    table alone (``serving.py``), as it does the version table."""
    skipped = kit_tables(version_table)

    def include_name(name, type_, parent_names) -> bool:
        """False for the kit's tables."""
        return not (type_ == "table" and name in skipped)

    return include_name


def autogenerate_options(version_table: str = "alembic_version") -> dict:
    """The options for ``context.configure`` that shape autogenerate, for the
    history whose version table is ``version_table``."""
    return {
        "include_name": models_tables_only(version_table),
        "compare_type": True,
        "compare_server_default": CompareByMeaning(),
        "render_item": render_item,
        "include_object": enum_value_changes.not_an_enum_check,
        "autogenerate_plugins": AUTOGENERATE_PLUGINS,
        "process_revision_directives": shape_revision,
    }
