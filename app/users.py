"""``/api/users``: create, list, read, update and delete users."""

import re

import sqlalchemy as sa
from flask import Blueprint, url_for

from app.audit import changed_fields, commit_audited
from app.db import db
from app.models import Post, User
from app.validation import TextField, json_body, page_arguments, page_json, validated

bp = Blueprint("users", __name__, url_prefix="/api/users")

# ASCII only: MySQL's default collation treats "é" and "e" as the same letter, so a
# wider alphabet would make "already taken" differ from one database to another.
USERNAME = re.compile(r"[A-Za-z0-9_.-]+")
# Deliberately loose: one "@", no spaces, a dot in the domain. Whether the address
# works is for a confirmation mail to find out, not a regular expression.
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")

USER_FIELDS = {
    "username": TextField(
        sa.inspect(User).columns.username,
        USERNAME,
        "may contain only letters, digits, '.', '_' and '-'",
    ),
    "email": TextField(
        sa.inspect(User).columns.email,
        EMAIL,
        "must be an email address (name@example.org)",
    ),
    "display_name": TextField(sa.inspect(User).columns.display_name),
}
REQUIRED_ON_CREATE = frozenset({"username", "email"})


def user_json(user: User) -> dict:
    """A user as the API shows it."""
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
    }


def user_or_404(user_id: int) -> User:
    """The user with this id, or a 404."""
    return db.get_or_404(User, user_id, description=f"user {user_id} not found")


@bp.get("")
def list_users():
    """A page of users, in the order they were created (by id)."""
    page, per_page = page_arguments()
    users = db.paginate(
        sa.select(User).order_by(User.id), page=page, per_page=per_page, error_out=False
    )
    return page_json(users, user_json)


@bp.post("")
def create_user():
    """Create a user; ``display_name`` defaults to the username."""
    values = validated(json_body(), USER_FIELDS, REQUIRED_ON_CREATE)
    values.setdefault("display_name", values["username"])
    user = User(**values)
    db.session.add(user)
    commit_audited(User.__table__, "user.created", user, {"username": user.username})
    return user_json(user), 201, {"Location": url_for(".get_user", user_id=user.id)}


@bp.get("/<id:user_id>")
def get_user(user_id: int):
    """One user."""
    return user_json(user_or_404(user_id))


@bp.patch("/<id:user_id>")
def update_user(user_id: int):
    """Change the fields the body names; the others stay as they are."""
    user = user_or_404(user_id)
    values = validated(json_body(), USER_FIELDS)
    for name, value in values.items():
        setattr(user, name, value)
    fields = changed_fields(user, values)
    if not fields:
        return user_json(user)  # nothing changed, nothing to audit
    commit_audited(User.__table__, "user.updated", user, {"fields": fields})
    return user_json(user)


@bp.delete("/<id:user_id>")
def delete_user(user_id: int):
    """Delete a user and, by the foreign key's ON DELETE CASCADE, their posts."""
    user = user_or_404(user_id)
    # Counted, not loaded: the foreign key's ON DELETE CASCADE deletes them.
    posts = sa.select(sa.func.count()).where(Post.user_id == user_id)
    detail = {"username": user.username, "posts": db.session.scalar(posts)}
    db.session.delete(user)
    commit_audited(User.__table__, "user.deleted", user, detail)
    return "", 204
