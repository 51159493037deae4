"""The fixture project's app: the factory, configured from the environment as the
migration kit reads it (``DATABASE_URL``, ``DATABASE_URL_<NAME>``)."""

import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from app import models  # noqa: F401  (importing the models registers their tables)
from app.db import db
from flask_alembic_kit import guard
from flask_alembic_kit.urls import bind_urls, database_url, engine_error


def create_app(config: dict | None = None, *, web: bool = True) -> Flask:
    """The app, with its databases from ``config`` or the environment; ``web``
    adds the migration guard and ``/healthz``."""
    app = Flask(__name__, instance_relative_config=True)
    app.config["ALEMBIC_CONFIG"] = str(Path(__file__).parent.parent / "alembic.ini")
    if config is None:
        binds = sorted(key for key in db.metadatas if key)
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
            os.environ.get("DATABASE_URL")
        )
        app.config["SQLALCHEMY_BINDS"] = bind_urls(binds, warn=web)
        app.config["MIGRATION_GUARD"] = os.environ.get("MIGRATION_GUARD")
    else:
        app.config.from_mapping(config)
    try:
        db.init_app(app)  # builds the engines: no connection yet
    except (sa.exc.ArgumentError, ImportError) as error:
        raise engine_error(error) from error
    if web:
        guard.init_app(app)
        app.add_url_rule("/api/users", view_func=user_names)
    return app


def user_names() -> dict:
    """``GET /api/users``: the users' names, a request that reads the database."""
    names = db.session.scalars(sa.select(models.User.username).order_by("id"))
    return {"users": list(names)}
