"""The fixture project's app: the factory, configured from the environment as the
migration kit reads it (``DATABASE_URL``, ``DATABASE_URL_<NAME>``)."""

import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, request

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
        app.add_url_rule("/api/users", view_func=add_user, methods=["POST"])
        app.add_url_rule("/api/users/<int:user_id>", view_func=one_user)
        app.add_url_rule(
            "/api/users/<int:user_id>", view_func=rename_user, methods=["PATCH"]
        )
        app.add_url_rule(
            "/api/users/<int:user_id>", view_func=remove_user, methods=["DELETE"]
        )
    return app


def user_names() -> dict:
    """``GET /api/users``: the users' names, a request that reads the database."""
    names = db.session.scalars(sa.select(models.User.username).order_by("id"))
    return {"users": list(names)}


# A user's fields the JSON requests below read and write, whatever else the model
# maps (a test's release may add columns).
FIELDS = ("username", "email", "display_name")


# A transaction the database chose as a deadlock's victim is run again, as the
# error asks: MariaDB may pick a write to a table that a migration alters at that
# moment (error 1213, SQLSTATE 40001); PostgreSQL reports 40P01.
ATTEMPTS = 3
DEADLOCK_STATES = {"40001", "40P01"}
MARIADB_DEADLOCK = 1213


def committed(change):
    """``change()`` committed, run again after a deadlock; what it returns."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = change()
            db.session.commit()
            return result
        except sa.exc.OperationalError as error:
            db.session.rollback()
            if attempt == ATTEMPTS or not is_deadlock(error):
                raise
    return None


def is_deadlock(error: sa.exc.OperationalError) -> bool:
    """Whether the database gave up on the transaction to break a deadlock."""
    args = getattr(error.orig, "args", ())
    state = getattr(error.orig, "sqlstate", None)
    return state in DEADLOCK_STATES or bool(args) and args[0] == MARIADB_DEADLOCK


def add_user():
    """``POST /api/users``: a new user from the JSON fields; 201 and its id."""

    def add() -> models.User:
        """The new user, added to the session."""
        user = models.User(**{name: request.json[name] for name in FIELDS})
        db.session.add(user)
        return user

    return {"id": committed(add).id}, 201


def one_user(user_id: int):
    """``GET /api/users/<id>``: the user's fields, or 404."""
    user = db.get_or_404(models.User, user_id)
    return {name: getattr(user, name) for name in FIELDS}


def rename_user(user_id: int):
    """``PATCH /api/users/<id>``: a new ``display_name``."""

    def rename() -> None:
        """The user's new display name, set."""
        user = db.get_or_404(models.User, user_id)
        user.display_name = request.json["display_name"]

    committed(rename)
    return {"id": user_id}


def remove_user(user_id: int):
    """``DELETE /api/users/<id>``: 204."""
    committed(lambda: db.session.delete(db.get_or_404(models.User, user_id)))
    return "", 204
