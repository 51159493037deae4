"""What the kit needs of a Flask-SQLAlchemy project, handed to it by the project's
``alembic/env.py`` in one call: the kit never imports the app.

Like alchemical's ``run_migrations(db, ...)``: the project's ``db`` holds the models
of each database (``db.metadatas``, one per bind), and its app factory builds the
engines from the app's own config.
"""

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.util import CommandError
from flask import Flask
from flask_sqlalchemy import SQLAlchemy


@dataclass(frozen=True)
class FlaskProject:
    """A Flask-SQLAlchemy project as the migration kit sees it.

    ``db``: the project's ``SQLAlchemy`` object, with every model imported.
    ``create_app``: builds the app, configured from the environment, without
    connecting (and best without its web parts: a migration serves no requests).
    """

    db: SQLAlchemy
    create_app: Callable[[], Flask]

    def bind_names(self) -> list[str]:
        """The binds the models use (their ``__bind_key__``), sorted."""
        return sorted(key for key in self.db.metadatas if key)

    def metadata(self, bind: str | None) -> sa.MetaData:
        """The models' tables of a database: the default one's, or a bind's."""
        if bind not in self.db.metadatas:
            raise CommandError(
                f"no model uses the database {bind!r}: give the models of "
                f"alembic.ini's [{bind}] section __bind_key__ = {bind!r}"
            )
        return self.db.metadatas[bind]

    def engine(self, bind: str | None = None) -> sa.Engine:
        """The engine Flask-SQLAlchemy builds for a database from the app's config
        (no connection yet)."""
        app = self.create_app()
        with app.app_context():
            return self.db.engines[bind]
