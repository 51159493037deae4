"""``op.rename_table_keys``: after a table rename, its primary key, foreign keys and
(PostgreSQL) sequences take the new table's names, so that the old name can be used
again.

``op.rename_table("posts", "articles")`` keeps ``pk_posts``, ``fk_posts_user_id_users``
and ``posts_id_seq``. Alembic does not compare those names, so ``alembic check`` is
clean, but a later table named ``posts`` then fails on PostgreSQL (``relation
"pk_posts" already exists``) and on MariaDB (errno 121: foreign key names are unique
per database). Written after the rename by autogenerate's rename question::

    op.rename_table_keys(
        "articles",
        {"pk_posts": "pk_articles", "fk_posts_user_id_users": "fk_articles_..."},
        sequences=("posts", "articles"),
    )

PostgreSQL: ``RENAME CONSTRAINT`` (which renames the key's index too) and the
sequences the table owns renamed. MariaDB/MySQL: each foreign key dropped and added
again under its new name (the primary key is always ``PRIMARY`` there; with
``--sql`` the foreign keys cannot be read, and a comment says so). SQLite: nothing
(its constraint names belong to their table).
"""

import logging

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations

from flask_alembic_kit.sqltext import execute, literal

log = logging.getLogger("alembic.env")


@Operations.register_operation("rename_table_keys")
class RenameTableKeysOp(MigrateOperation):
    """Rename a renamed table's keys and sequences after it (see the module)."""

    def __init__(self, table_name: str, names: dict, sequences=None) -> None:
        """The table (by its current name), its keys' names (former -> new), and
        the sequence prefix (former, new)."""
        self.table_name = table_name
        self.names = dict(names)
        self.sequences = tuple(sequences) if sequences else None

    @classmethod
    def rename_table_keys(cls, operations, table_name, names, sequences=None):
        """``op.rename_table_keys(table, {former: new}, sequences=(former, new))``."""
        return operations.invoke(cls(table_name, names, sequences))

    def reverse(self) -> "RenameTableKeysOp":
        """The former names back (the table has its new name still)."""
        sequences = tuple(reversed(self.sequences)) if self.sequences else None
        names = {new: former for former, new in self.names.items()}
        return RenameTableKeysOp(self.table_name, names, sequences)


@Operations.implementation_for(RenameTableKeysOp)
def rename_table_keys(operations, operation: RenameTableKeysOp) -> None:
    """Each database its own way; see the module."""
    context = operations.migration_context
    dialect = context.dialect.name
    if dialect == "postgresql":
        quote = context.dialect.identifier_preparer.quote
        table = quote(operation.table_name)
        for former, new in operation.names.items():
            execute(
                operations,
                f"ALTER TABLE {table} RENAME CONSTRAINT {quote(former)} "
                f"TO {quote(new)}",
            )
        if operation.sequences:
            execute(operations, rename_sequences(operation))
    elif dialect in ("mysql", "mariadb"):
        rename_foreign_keys(operations, operation)


def rename_sequences(operation: RenameTableKeysOp) -> str:
    """PostgreSQL: the sequences the table owns whose names start with the former
    table name, renamed to start with the new one (asked of the database when the
    statement runs, so that ``--sql`` scripts do it too)."""
    former, new = operation.sequences
    return (
        "DO $$ DECLARE s record; BEGIN FOR s IN SELECT c.relname FROM pg_class c "
        "JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass "
        "WHERE c.relkind = 'S' AND d.refobjid = "
        f"to_regclass(quote_ident({literal(operation.table_name)})) "
        f"AND left(c.relname, {len(former) + 1}) = {literal(former + '_')} LOOP "
        "EXECUTE format('ALTER SEQUENCE %I RENAME TO %I', s.relname, "
        f"{literal(new)} || substr(s.relname, {len(former) + 1})); "
        "END LOOP; END $$"
    )


def rename_foreign_keys(operations, operation: RenameTableKeysOp) -> None:
    """MariaDB/MySQL: each foreign key named dropped and added again under its new
    name, as the database reflects it."""
    if operations.migration_context.as_sql:
        log.warning(
            "--sql: the foreign keys of %s keep their names (%s): they are read "
            "from the database, which --sql does not reach",
            operation.table_name,
            ", ".join(operation.names),
        )
        return
    inspector = sa.inspect(operations.get_bind())
    for key in inspector.get_foreign_keys(operation.table_name):
        new = operation.names.get(key["name"])
        if new is None:
            continue
        operations.drop_constraint(key["name"], operation.table_name, "foreignkey")
        options = key.get("options", {})
        operations.create_foreign_key(
            new,
            operation.table_name,
            key["referred_table"],
            key["constrained_columns"],
            key["referred_columns"],
            ondelete=options.get("ondelete"),
            onupdate=options.get("onupdate"),
        )


@renderers.dispatch_for(RenameTableKeysOp)
def render_rename_keys(autogen_context, operation: RenameTableKeysOp) -> str:
    """The op as the lines of the revision file."""
    arguments = [repr(operation.table_name), repr(operation.names)]
    if operation.sequences:
        arguments.append(f"sequences={operation.sequences!r}")
    return f"op.rename_table_keys({', '.join(arguments)})"
