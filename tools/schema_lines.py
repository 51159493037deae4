"""One table's schema as sorted, readable lines, read with SQLAlchemy's inspector:
columns in order, then keys, constraints and indexes by name. SQLite's indexes on
expressions, which the inspector skips, are read from SQLite's own SQL."""

import re
from contextlib import nullcontext

import sqlalchemy as sa


def table_lines(inspector, dialect, table: str) -> list[str]:
    """One table: columns in order, then keys, constraints and indexes by name."""
    lines = [column_line(column, dialect) for column in inspector.get_columns(table)]
    comments = dialect.supports_comments  # SQLite keeps none
    comment = inspector.get_table_comment(table).get("text") if comments else None
    if comment:
        lines.insert(0, f"  comment {comment!r}")
    primary_key = inspector.get_pk_constraint(table)
    if primary_key.get("constrained_columns"):
        lines.append(
            f"  primary key {primary_key.get('name') or '(unnamed)'} "
            f"({', '.join(primary_key['constrained_columns'])})"
        )
    constraints = []
    for key in inspector.get_foreign_keys(table):
        on_delete = (key.get("options") or {}).get("ondelete")
        on_update = (key.get("options") or {}).get("onupdate")
        constraints.append(
            f"  foreign key {key.get('name') or '(unnamed)'} "
            f"({', '.join(key['constrained_columns'])}) -> {key['referred_table']} "
            f"({', '.join(key['referred_columns'])})"
            + (f" on delete {on_delete.lower()}" if on_delete else "")
            + (f" on update {on_update.lower()}" if on_update else "")
        )
    uniques = inspector.get_unique_constraints(table)
    unique_names = {unique.get("name") for unique in uniques}
    for unique in uniques:
        constraints.append(
            f"  unique {unique.get('name') or '(unnamed)'} "
            f"({', '.join(unique['column_names'])})"
        )
    for check in inspector.get_check_constraints(table):
        constraints.append(
            f"  check {check.get('name') or '(unnamed)'}: {check['sqltext']}"
        )
    indexes = inspector.get_indexes(table)
    if dialect.name == "sqlite":
        indexes = with_sqlite_sql(indexes, sqlite_index_sql(inspector, table))
    for index in indexes:
        # The index behind a unique constraint is listed as the constraint.
        if index.get("duplicates_constraint") or index["name"] in unique_names:
            continue
        kind = "unique index" if index.get("unique") else "index"
        # PostgreSQL and MariaDB say what an expression is; SQLite does not.
        expressions = index.get("expressions") or [None] * len(index["column_names"])
        columns = [
            name or expression or "<expression>"
            for name, expression in zip(index["column_names"], expressions, strict=True)
        ]
        constraints.append(
            f"  {kind} {index['name']} ({', '.join(columns)}){index_options(index)}"
        )
    return lines + sorted(constraints)


def sqlite_index_sql(inspector, table: str) -> dict[str, dict]:
    """Each index of a SQLite table made by ``CREATE INDEX``, by name, read from
    its SQL: ``unique``, ``parts`` (columns or expressions) and ``where``. SQLAlchemy
    skips indexes on expressions there, and reflects no WHERE clause."""
    bind = inspector.bind  # an Engine, or the Connection the caller has open
    opened = bind.connect() if isinstance(bind, sa.Engine) else nullcontext(bind)
    with opened as connection:
        rows = connection.execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = :table AND sql IS NOT NULL ORDER BY name"
            ),
            {"table": table},
        ).all()
    found = {}
    for name, sql in rows:
        body, where = index_body(sql)
        found[name] = {
            "unique": sql.lstrip().upper().startswith("CREATE UNIQUE"),
            "parts": top_level_parts(body),
            "where": where,
        }
    return found


def with_sqlite_sql(indexes: list[dict], from_sql: dict[str, dict]) -> list[dict]:
    """SQLite's reflected indexes with their WHERE clause, and the indexes on
    expressions it skipped, in the shape ``get_indexes`` gives."""
    for index in indexes:
        where = from_sql.get(index["name"], {}).get("where")
        if where:
            index["dialect_options"] = {"sqlite_where": where}
    known = {index["name"] for index in indexes}
    for name, found in from_sql.items():
        if name not in known:
            indexes.append(
                {
                    "name": name,
                    "unique": found["unique"],
                    "column_names": [None] * len(found["parts"]),
                    "expressions": found["parts"],
                    "dialect_options": (
                        {"sqlite_where": found["where"]} if found["where"] else {}
                    ),
                }
            )
    return indexes


def index_options(index: dict) -> str:
    """What an index line adds to its columns: a descending column, a WHERE
    clause, a method other than btree, included columns."""
    text = "".join(
        f" {column} {' '.join(order)}"
        for column, order in sorted((index.get("column_sorting") or {}).items())
    )
    for key, value in sorted((index.get("dialect_options") or {}).items()):
        if value in (None, False, [], (), "btree"):
            continue
        text += f" {key.split('_', 1)[1]} {value}"
    return text


def index_body(sql: str) -> tuple[str, str | None]:
    """The text between the parentheses of ``CREATE INDEX ... ON t (...)`` and the
    ``WHERE`` clause after them, if any."""
    start = sql.index("(")
    depth = 0
    for position in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[position], 0)
        if depth == 0:
            rest = sql[position + 1 :].strip()
            where = re.sub(r"^WHERE\s+", "", rest, flags=re.IGNORECASE) or None
            return sql[start + 1 : position], where
    raise ValueError(f"cannot read an index from SQLite: {sql}")


def top_level_parts(text: str) -> list[str]:
    """``a, lower(b), c`` as its comma-separated parts, outside parentheses."""
    parts, depth, current = [], 0, ""
    for character in text:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += character
    return [*parts, current.strip()]


def column_line(column: dict, dialect) -> str:
    """A column: name, database type, NULL or NOT NULL, then what it has of a server
    default, a comment, a generated expression and an identity."""
    type_name = column["type"].compile(dialect=dialect)
    null = "NULL" if column["nullable"] else "NOT NULL"
    line = f"  column {column['name']} {type_name} {null}"
    if column.get("default") is not None:
        line += f" default {column['default']}"
    if column.get("comment"):
        line += f" comment {column['comment']!r}"
    if column.get("computed"):
        line += f" generated as ({column['computed']['sqltext']})"
    if column.get("identity"):
        line += " identity"
    return line
