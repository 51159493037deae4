"""What this project adds to Alembic's operations, registered by importing this
module (env.py does, the way Warehouse's env.py imports alembic_postgresql_enum):

- ``enums``: ``op.create_enum_type`` / ``op.drop_enum_type``, and (through
  ``enum_types``) each PostgreSQL enum type created once and dropped with the last
  column that uses it;
- ``enum_values``: ``op.alter_enum_values``, an Enum's values changed on every
  database its own way;
- ``table_keys``: ``op.rename_table_keys``, a renamed table's keys and sequences
  named after it;
- ``not_null``: a NOT NULL column without a default refused on a MariaDB/MySQL
  table with rows, as SQLite and PostgreSQL refuse it.
"""

from flask_alembic_kit import not_null  # noqa: F401
from flask_alembic_kit.enums import types, values  # noqa: F401
from flask_alembic_kit.renames import table_keys  # noqa: F401
