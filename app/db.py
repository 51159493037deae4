"""The SQLAlchemy ``db`` object and the declarative base every model uses.

This module imports nothing from the rest of the app, so models, the factory and
``alembic/env.py`` can all import it without cycles.
"""

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_alembic_kit.conventions import NAMING_CONVENTION, sqlite_on_connect


class Base(orm.DeclarativeBase):
    """Declarative base whose metadata carries the naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


# SQLite enforces foreign keys; a new database file is readable by its owner only.
sa.event.listen(sa.Engine, "connect", sqlite_on_connect)
