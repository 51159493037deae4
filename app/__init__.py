"""A Flask service whose schema is owned by the Alembic revisions in ``alembic/``."""

import sqlalchemy as sa
from flask import Flask

from app import models  # noqa: F401  (importing the models registers their tables)
from app.config import DEFAULTS, from_environment
from app.db import db
from flask_alembic_kit.urls import bind_urls, database_url, engine_error


def bind_keys() -> list[str]:
    """The binds the models use (their ``__bind_key__``)."""
    return sorted(key for key in db.metadatas if key)


def create_app(config: dict | None = None, *, web: bool = True) -> Flask:
    """Build the app: defaults, then the environment or the given config, then the
    db, and (``web``) the error handlers, the migration guard and the blueprints.

    Nothing here connects to the database or creates tables: the schema comes from
    ``alembic upgrade head``, and the guard checks it on the first request. A bad
    ``DATABASE_URL`` raises ``SettingError``, one line under ``flask`` and ``alembic``.
    ``alembic/env.py`` asks for ``web=False``: a migration serves no requests.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    if config is None:
        app.config.from_prefixed_env()
        app.config.from_mapping(from_environment())
    else:
        app.config.from_mapping(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
        app.config.get("SQLALCHEMY_DATABASE_URI")
    )
    if config is None:
        # Other databases, one per DATABASE_URL_<NAME> (docs/binds.md).
        app.config["SQLALCHEMY_BINDS"] = bind_urls(bind_keys(), warn=web)
    try:
        db.init_app(app)  # builds the engine: no connection yet
    except (sa.exc.ArgumentError, ImportError) as error:
        raise engine_error(error) from error
    if web:
        register_web_parts(app)
    return app


def register_web_parts(app: Flask) -> None:
    """The error handlers, the migration guard and the blueprints.

    Imported here, as Flask's tutorial imports its blueprints: every ``alembic``
    command builds the app, and would otherwise pay ~20 ms for request handling it
    never uses.
    """
    from app import audit, errors, posts, users
    from app.validation import RowIdConverter
    from flask_alembic_kit import guard
    from flask_alembic_kit.network import protect
    from flask_alembic_kit.settings import Settings

    # A server that never answers, or goes quiet, makes a request answer 503 within
    # MIGRATION_CONNECT_TIMEOUT / MIGRATION_NETWORK_TIMEOUT instead of hanging.
    settings = Settings.from_environment()
    with app.app_context():
        for engine in db.engines.values():
            protect(engine, settings)

    errors.init_app(app)
    guard.init_app(app)
    app.url_map.converters["id"] = RowIdConverter
    app.register_blueprint(users.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(audit.bp)
