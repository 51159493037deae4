"""The safety linter's rules (``lint.py``): each one's name, why the op it names is
risky, and what to do instead. The report quotes them as they are written here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """A rule's name, why the op is risky, and what to do instead."""

    name: str
    why: str
    instead: str


RULES = {
    rule.name: rule
    for rule in [
        Rule(
            "drop-table",
            "Deletes the table and every row in it; the release still running reads "
            "it until it is replaced, and a downgrade cannot bring the rows back.",
            "Stop using the table in one release, back it up, and drop it in a later "
            "revision; acknowledge with the reason once that is done.",
        ),
        Rule(
            "drop-column",
            "Deletes the column's data for good; code of the release still running "
            "that selects or inserts it fails.",
            "Stop reading and writing the column in one release, then drop it in a "
            "later revision; acknowledge with the reason once that is done.",
        ),
        Rule(
            "drop-and-add",
            "A column is dropped and another of the same type added to the same table: "
            "probably a rename written as drop + add, which loses the column's data.",
            "Rename it with alter_column(..., new_column_name=...), or add the new "
            "column, copy the data with set-based SQL, and drop the old one later.",
        ),
        Rule(
            "alter-column-type",
            "Changing or narrowing a column's type rewrites the table under an ACCESS "
            "EXCLUSIVE lock on PostgreSQL (a table copy on MySQL), and values that do "
            "not fit the new type fail or are truncated.",
            "Add a column of the new type, backfill it, switch the code, drop the old "
            "column later. Widening (String(80) to String(120)) is safe: pass "
            "existing_type so the review can tell.",
        ),
        Rule(
            "add-not-null-column",
            "A NOT NULL column without a server default cannot be added to a table "
            "that has rows (PostgreSQL and SQLite refuse; MySQL fills in '' or 0).",
            "Add it nullable, backfill it with set-based SQL, then set NOT NULL (as "
            "the display_name revision does), or give it a server_default.",
        ),
        Rule(
            "set-not-null",
            "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock on "
            "PostgreSQL (reads and writes wait), and fails if any row is still NULL.",
            "Backfill first; on a large PostgreSQL table add CHECK (col IS NOT NULL) "
            "NOT VALID, VALIDATE it in a later step, then SET NOT NULL (PostgreSQL 12+ "
            "then skips the scan).",
        ),
        Rule(
            "create-index-concurrently",
            "CREATE INDEX on an existing table blocks every write to it on PostgreSQL "
            "until the index is built (CONCURRENTLY cannot run in a transaction).",
            "In a revision of its own: with op.get_context().autocommit_block(): "
            "op.create_index(..., postgresql_concurrently=True, if_not_exists=True) "
            "(outside a transaction, a rerun after a failure must not trip on what "
            "already exists).",
        ),
        Rule(
            "unique-constraint",
            "Adding a UNIQUE constraint to an existing table builds its index under an "
            "ACCESS EXCLUSIVE lock on PostgreSQL, and fails if duplicates exist.",
            "Remove duplicates, create a unique index CONCURRENTLY in an "
            "autocommit_block, then ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING "
            "INDEX.",
        ),
        Rule(
            "foreign-key-not-valid",
            "A foreign key added to an existing table is validated by scanning it, "
            "holding a SHARE ROW EXCLUSIVE lock on both tables that blocks writes.",
            "create_foreign_key(..., postgresql_not_valid=True), then VALIDATE "
            "CONSTRAINT in a later step (it takes a lock that lets writes through).",
        ),
        Rule(
            "enum-value-dropped",
            "A value is dropped from an Enum: rows that hold it make the revision "
            "fail (MariaDB in strict mode, PostgreSQL), and PostgreSQL, which cannot "
            "drop an enum value, swaps the type: every row of the table is rewritten "
            "under an ACCESS EXCLUSIVE lock.",
            "First update the rows that hold it (a data step, in a revision of its "
            "own), then drop the value; on a big PostgreSQL table, at a quiet time.",
        ),
        Rule(
            "enum-value-renamed",
            "An Enum value is renamed: the running app still writes the former value, "
            "which fails as soon as the revision has run; MariaDB and SQLite update "
            "every row that holds it (PostgreSQL renames the label and touches no "
            "row).",
            "Deploy code that reads both values first, then the rename; on a big "
            "MariaDB table, at a quiet time.",
        ),
        Rule(
            "raw-sql",
            "SQL written as text is not rendered per dialect, so it may not run on "
            "every database this project supports, and this review cannot see what it "
            "locks or changes.",
            "Write it as a SQLAlchemy Core expression (sa.update(table)...) or an op; "
            "if it must stay text, acknowledge it and test it on every database.",
        ),
        # The deploy phase (review_phase.py): the three below are not acknowledged
        # by a comment; the file's ``phase_reason`` overrides them, and the report
        # shows it.
        Rule(
            "mixed-phase",
            "The revision breaks the release that is running and adds what the new "
            "release maps: neither release can serve on the other side of it, so the "
            "deploy is an outage.",
            "Split it into an expand revision and a contract one: the expand one "
            "(what it adds) runs before the new release starts, the contract one "
            "(what it drops or tightens) once every instance runs the new release; "
            "or say why not in `phase_reason`.",
        ),
        Rule(
            "phase-mismatch",
            'The revision declares phase = "expand", but its ops break the release '
            "that is running: `alembic -x phase=expand` applies it while that "
            "release serves.",
            'Declare phase = "contract" (or split it); if the ops are safe all the '
            "same (nothing running reads what they drop), say why in "
            "`phase_reason`.",
        ),
        Rule(
            "phase-missing",
            "The revision declares no deploy phase: it is taken as mixed, so "
            "`alembic -x phase=expand` stops before it and the guard serves no "
            "release across it.",
            'Add `phase: str = "expand"` when the running release keeps working '
            'once it is applied, or `phase: str = "contract"` when it drops, renames '
            "or tightens what that release uses.",
        ),
        Rule(
            "empty-downgrade",
            "upgrade() changes the schema but downgrade() does nothing: a downgrade "
            "moves the version table back while the schema stays changed.",
            "Write the reverse ops; if the change cannot be undone (data is lost), "
            "raise with a message saying so and acknowledge it.",
        ),
    ]
}
