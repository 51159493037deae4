"""The fixture project's ``db``, with the kit's conventions."""

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_alembic_kit.conventions import NAMING_CONVENTION, sqlite_on_connect


class Base(orm.DeclarativeBase):
    """Declarative base whose metadata carries the naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

sa.event.listen(sa.Engine, "connect", sqlite_on_connect)
