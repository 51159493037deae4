"""The fixture project's models: users, posts, and audit events in the ``audit``
bind. Frozen: the kit's tests assert this schema and its histories."""

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from app.db import db


def utc_now() -> datetime:
    """The current UTC time as a naive datetime (MySQL's DATETIME keeps no zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(db.Model):
    """Someone who can sign in and write posts."""

    __tablename__ = "users"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    username: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(120), unique=True)
    display_name: orm.Mapped[str] = orm.mapped_column(sa.String(80))

    posts: orm.Mapped[list["Post"]] = orm.relationship(
        back_populates="author", cascade="all, delete-orphan", passive_deletes=True
    )


class Post(db.Model):
    """A short text written by a user."""

    __tablename__ = "posts"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    body: orm.Mapped[str] = orm.mapped_column(sa.Text)
    created_at: orm.Mapped[datetime] = orm.mapped_column(default=utc_now)

    author: orm.Mapped[User] = orm.relationship(back_populates="posts")


class AuditEvent(db.Model):
    """One change the API made, kept in the audit database (the ``audit`` bind):
    appended in the same request as the change, never updated (docs/binds.md)."""

    __bind_key__ = "audit"
    __tablename__ = "audit_events"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    # Microseconds on MariaDB/MySQL too (DATETIME(6)), as PostgreSQL and SQLite keep.
    occurred_at: orm.Mapped[datetime] = orm.mapped_column(
        sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
        default=utc_now,
    )
    # What happened, as "<entity>.<verb>": user.created, post.deleted, ...
    action: orm.Mapped[str] = orm.mapped_column(sa.String(40))
    entity: orm.Mapped[str] = orm.mapped_column(sa.String(40))
    entity_id: orm.Mapped[int]
    # A few fields of the change, e.g. {"username": "ada"} or {"fields": ["title"]}.
    detail: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
