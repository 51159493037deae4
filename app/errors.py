"""Every error answers in JSON: the API's own errors, HTTP errors and crashes.

A crash answers 500 with a generic message; the traceback goes to the log only.
"""

import re
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from app.db import db
from flask_alembic_kit import guard


class ApiError(Exception):
    """An answer other than success: a status, a message and, for input, the fields.

    ``fields`` maps each bad field to what is wrong with it.
    """

    def __init__(self, status: int, message: str, fields: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields


def api_error_as_json(error: ApiError):
    """``{"error": message, "fields": {...}}`` with the error's status."""
    body = {"error": error.message}
    if error.fields is not None:
        body["fields"] = error.fields
    return jsonify(body), error.status


def http_error_as_json(error: HTTPException):
    """A werkzeug HTTP error (404, 405, 413, ...) as ``{"error": description}``.

    The error's own response is kept for its headers (``Allow`` on a 405).
    """
    response = error.get_response()
    response.data = current_app.json.dumps({"error": error.description})
    response.content_type = "application/json"
    return response


def database_error_as_json(error: sa.exc.DBAPIError):
    """A failed database statement. When the schema moved under the app (a
    downgrade), the guard answers 503 and logs one warning line naming the migration
    state; anything else is a crash like any other, logged with its traceback."""
    refused = guard.refused_after_database_error(error)
    if refused is None:
        raise error  # to Flask, which logs it and answers with the 500 below
    rollback_session()
    return refused


def internal_error_as_json(error: InternalServerError):
    """A crash as a generic 500; Flask has already logged the traceback. The session
    is rolled back so a write cut short leaves nothing behind."""
    rollback_session()
    return jsonify({"error": "internal server error"}), 500


def rollback_session() -> None:
    """Roll back the request's session, whatever it had written."""
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        # The connection is gone (that may be the crash); teardown closes the session.
        current_app.logger.warning("Could not roll back after an error", exc_info=True)


def init_app(app: Flask) -> None:
    """Register the JSON error handlers."""
    app.register_error_handler(ApiError, api_error_as_json)
    app.register_error_handler(HTTPException, http_error_as_json)
    app.register_error_handler(sa.exc.DBAPIError, database_error_as_json)
    app.register_error_handler(InternalServerError, internal_error_as_json)


@contextmanager
def refused_as_api_errors(table: sa.Table, missing_parent: str = "not found"):
    """A write the database refuses becomes an API error.

    A unique constraint answers 409 naming its fields, a foreign key 404 with
    ``missing_parent`` (the parent row was deleted meanwhile). The session is rolled
    back first, so nothing of the failed write remains; anything else propagates.
    """
    try:
        yield
    except sa.exc.IntegrityError as error:
        db.session.rollback()
        constraint = violated_constraint(error, table)
        if isinstance(constraint, sa.UniqueConstraint):
            fields = {c.name: "is already taken" for c in constraint.columns}
            raise ApiError(409, f"{', '.join(fields)} already taken", fields) from None
        if isinstance(constraint, sa.ForeignKeyConstraint):
            raise ApiError(404, missing_parent) from None
        raise


def violated_constraint(error: sa.exc.IntegrityError, table: sa.Table):
    """The constraint of ``table`` an ``IntegrityError`` names, or ``None``.

    The naming convention gives every constraint the same name on every database;
    the drivers report it differently: psycopg in ``diag``, MySQL in the message,
    SQLite by column (``UNIQUE constraint failed: users.email``) or not at all
    (``FOREIGN KEY constraint failed``).
    """
    name = constraint_name(error.orig)
    for constraint in table.constraints:
        if name is not None and constraint.name == name:
            return constraint
    return sqlite_constraint(str(error.orig), table)


def sqlite_constraint(message: str, table: sa.Table):
    """The constraint of ``table`` an SQLite ``IntegrityError`` message points at."""
    if match := re.fullmatch(r"UNIQUE constraint failed: (.+)", message):
        columns = {part.rsplit(".", 1)[-1] for part in match.group(1).split(", ")}
        unique = [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
        return next(
            (c for c in unique if {col.name for col in c.columns} == columns), None
        )
    # SQLite does not say which foreign key failed: only a table with one can tell.
    foreign_keys = table.foreign_key_constraints
    if message == "FOREIGN KEY constraint failed" and len(foreign_keys) == 1:
        return next(iter(foreign_keys))
    return None


def constraint_name(driver_error: Exception) -> str | None:
    """The constraint a driver's error names, when it names one."""
    diagnostic = getattr(driver_error, "diag", None)  # psycopg
    if diagnostic is not None:
        return diagnostic.constraint_name
    text = str(driver_error)
    # MySQL/MariaDB: "Duplicate entry 'x' for key 'users.uq_users_email'" (the value
    # comes first, so the key is read from the end) or "... CONSTRAINT `fk_...`".
    match = re.search(r"for key '([^']+)'\W*$", text) or re.search(
        r"CONSTRAINT `([^`]+)`", text
    )
    return match.group(1).rsplit(".", 1)[-1] if match else None
