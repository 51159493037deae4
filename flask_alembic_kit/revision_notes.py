"""What ``alembic revision --autogenerate`` tells the author of the file it writes,
beside the file: what the upgrade would fail on or a database refuse as written,
and the revision's deploy phase (written into the file by the template,
``phases.py``), with a warning for a mixed one."""

import logging

import sqlalchemy as sa
from alembic.operations import ops

from flask_alembic_kit import phases

log = logging.getLogger("alembic.env")


def say_what_fails_on_rows(script: ops.MigrationScript) -> None:
    """One line for each NOT NULL column without a server default that the file
    adds to an existing table: the upgrade fails on a table with rows (MariaDB's
    too: env.py refuses it there), so the draft needs a step by hand."""
    for container in script.upgrade_ops_list:
        for operation in container.ops:
            if not isinstance(operation, ops.ModifyTableOps):
                continue
            for add in operation.ops:
                column = getattr(add, "column", None)
                if (
                    isinstance(add, ops.AddColumnOp)
                    and not column.nullable
                    and column.server_default is None
                    and not column.primary_key
                ):
                    log.warning(
                        "%s.%s is added NOT NULL without a server default: the "
                        "upgrade fails on a table with rows; add it nullable, fill "
                        "it, then set NOT NULL, or give it a server_default",
                        operation.table_name,
                        column.name,
                    )


def say_what_a_database_refuses(script: ops.MigrationScript) -> None:
    """One line for each thing of the file that a database refuses as written: a
    ``String()`` without a length (MariaDB/MySQL's VARCHAR needs one), an index
    with a trigram operator class (PostgreSQL needs the pg_trgm extension, which
    revision files do not create)."""
    for container in script.upgrade_ops_list:
        for operation in walked(container.ops):
            if isinstance(operation, ops.CreateTableOp):
                columns = [c for c in operation.columns if isinstance(c, sa.Column)]
            elif isinstance(operation, ops.AddColumnOp):
                columns = [operation.column]
            else:
                columns = []
            for column in columns:
                if type(column.type) is sa.String and column.type.length is None:
                    log.warning(
                        "%s.%s is a String() without a length: MariaDB and MySQL "
                        "cannot create it; give it a length, or use sa.Text()",
                        operation.table_name,
                        column.name,
                    )
            if isinstance(operation, ops.CreateIndexOp):
                classes = operation.kw.get("postgresql_ops") or {}
                if any(str(c).endswith("_trgm_ops") for c in classes.values()):
                    log.warning(
                        "index %s uses a trigram operator class: PostgreSQL needs "
                        "the pg_trgm extension first; add "
                        'op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm") '
                        "before it",
                        operation.index_name,
                    )


def walked(operations: list):
    """Every op of a list, those inside a table's ops included."""
    for operation in operations:
        if isinstance(operation, ops.ModifyTableOps):
            yield from operation.ops
        else:
            yield operation


def mark_phase(context, script: ops.MigrationScript) -> None:
    """Hand the revision's deploy phase, found from its operations, to the template
    (``phase = "contract"`` and the reasons above it, ``phases.py``); say a mixed
    one should be split."""
    found = phases.classify(
        [op for upgrade_ops in script.upgrade_ops_list for op in upgrade_ops.ops]
    )
    context.opts["template_args"]["phase_classification"] = found
    if found.phase == phases.MIXED:
        log.warning(
            "this revision breaks the running release (%s) and adds what the new "
            "one needs (%s): split it into an expand revision and a contract one, "
            "or no release serves while it runs",
            "; ".join(found.breaks),
            "; ".join(found.adds),
        )
