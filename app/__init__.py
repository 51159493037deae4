"""A Flask service whose schema is owned by the Alembic revisions in ``alembic/``."""

from flask import Flask

from app import models  # noqa: F401  (importing the models registers their tables)
from app.config import database_url, from_environment
from app.db import db


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment or the given config, then the db.

    Nothing here connects to the database or creates tables: the schema comes from
    ``alembic upgrade head``.
    """
    app = Flask(__name__, instance_relative_config=True)
    if config is None:
        app.config.from_prefixed_env()
        app.config.from_mapping(from_environment())
    else:
        app.config.from_mapping(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
        app.config.get("SQLALCHEMY_DATABASE_URI")
    )
    db.init_app(app)
    return app
