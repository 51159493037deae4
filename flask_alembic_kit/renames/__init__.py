"""Renames autogenerate cannot tell from a drop and an add, asked about:

- ``columns``: a column dropped and one of the same type added to its table;
- ``tables``: a table dropped and one with the same columns created, with its
  indexes and constraints named after it;
- ``table_keys``: ``op.rename_table_keys``, the primary key, foreign keys and
  PostgreSQL sequences a renamed table's name is in.
"""
