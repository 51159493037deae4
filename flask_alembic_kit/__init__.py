"""The migration machinery that ``alembic/env.py``, the revisions, ``tools/`` and the
migration guard share, one concern per module:

- ``settings``: the ``MIGRATION_*`` settings, read and checked once per command.
- ``connection``: the app's engine or one handed in.
- ``network``: the connect timeout, and a server gone quiet given up on.
- ``run_lock``: one migrator at a time, per database; a failed revision's error.
- ``timeouts``: the session timeouts, online and at the top of ``--sql`` scripts.
- ``sqlite``: SQLite's transactional DDL and write lock, foreign keys off, and the
  indexes batch mode's table copy would lose.
- ``kept_ddl``: the DDL statements MariaDB/MySQL kept from a failing revision.
- ``journal``: a MariaDB/MySQL revision cut short, resumed by the rerun.
- ``retry``: a revision that gave up on a busy table, run again.
- ``errors``: one-line errors that name the fix; ``history_errors``: what to do
  when Alembic refuses the history (behind head, several heads, a revision the
  code does not know).
- ``offline``: the start of ``--sql`` scripts, and empty ranges refused.
- ``operations``: imported by env.py to register the ops and checks below that
  revision files use.
- ``autogenerate``: the options that shape autogenerate, and a readable ``check``.
- ``rendering``, ``defaults``: revision files that run on every database, and
  server defaults compared by meaning.
- ``ordering``: table and column ops in foreign-key order, the same on every run.
- ``enums/``: PostgreSQL enum types created once and dropped with their last
  column; values added to, dropped from or renamed in an Enum, detected, and run
  on every database its own way (SQLite's CHECK included).
- ``renames/``: a probable column or table rename asked about on a terminal.
- ``not_null``: a NOT NULL column without a default refused on a MariaDB table
  with rows, as the other databases refuse it.
- ``expression_indexes``: an autogenerate plugin for indexes on expressions.
- ``backfill``: ``fill_column``, the batched data step revisions import.
- ``state``: the database's revision against the code's head, for the guard.
- ``phases``: each revision's deploy phase (expand, contract, mixed, merge) from
  its operations (``widening``: type changes that keep every value);
  ``expand_phase``: ``alembic -x phase=expand``; ``serving``: the table each
  migration writes of the code heads that can serve the database; ``deploys``:
  both, as env.py adds them.

Also: ``project`` (what env.py hands the kit), ``urls`` (database URLs from the
environment), ``conventions`` (the naming convention and SQLite's connection
settings), ``guard`` (the migration guard, a Flask extension) and ``internals``
(every private part of a library the kit uses, each pinned by a test).

The kit never imports the app: env.py hands it the app's ``db`` and factory
(``FlaskProject``); any Flask-SQLAlchemy project run by Alembic can use it.
"""
