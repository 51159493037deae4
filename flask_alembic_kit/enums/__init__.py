"""Enums on every database, one module per concern:

- ``types``: ``op.create_enum_type`` / ``op.drop_enum_type``, and revision files
  that create a PostgreSQL enum type with its first column and drop it with its
  last (autogenerate's ``with_enum_types``).
- ``types_once``: Alembic's PostgreSQL implementation, each enum type created
  once per run and dropped only when nothing uses it (``--sql``: guarded blocks).
- ``values``: ``op.alter_enum_values``, run each database's way (PostgreSQL's
  ``ALTER TYPE``, MariaDB's ``MODIFY``, SQLite's CHECK rebuilt with the table).
- ``value_changes``: values added, dropped or renamed, detected by autogenerate
  (plugins reading PostgreSQL's ``pg_enum`` and SQLite's CHECK), a rename asked.
"""
