"""The app factory and its configuration: what the migrations rely on."""

import pytest
import sqlalchemy as sa

from app import create_app
from app.db import db
from app.models import Post, User


def test_database_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:p%25ss@db.invalid/app")
    app = create_app()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "p%ss"
    with app.app_context():
        assert db.engine.url.password == "p%ss"


def test_default_database_is_a_sqlite_file_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    with app.app_context():
        assert db.engine.url.database == f"{app.instance_path}/app.sqlite"


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u@h/d", "postgresql+psycopg"),
        ("mysql://u@h/d", "mysql+pymysql"),
        ("mariadb://u@h/d", "mariadb+pymysql"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg"),
        ("sqlite:///x.sqlite", "sqlite"),
    ],
)
def test_urls_without_a_driver_get_the_installed_one(given, driver):
    app = create_app({"SQLALCHEMY_DATABASE_URI": given})
    assert app.config["SQLALCHEMY_DATABASE_URI"].drivername == driver


def test_building_the_app_connects_to_nothing():
    # Nothing listens on port 1: a connection attempt would fail at once.
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://u@127.0.0.1:1/d"})
    with app.app_context(), pytest.raises(sa.exc.OperationalError):
        db.session.execute(sa.text("SELECT 1"))


def test_constraints_have_deterministic_names():
    names = {c.name for t in db.metadata.tables.values() for c in t.constraints}
    indexes = {i.name for t in db.metadata.tables.values() for i in t.indexes}
    assert {"pk_users", "uq_users_username", "uq_users_email", "pk_posts"} <= names
    assert "fk_posts_user_id_users" in names
    assert {"ix_posts_user_id"} <= indexes


def test_user_model_is_the_seeds():
    columns = User.__table__.columns
    assert columns["username"].type.length == 80
    assert columns["email"].type.length == 120
    assert not columns["username"].nullable and columns["username"].unique
    assert not columns["email"].nullable and columns["email"].unique


def test_foreign_keys_are_enforced_on_every_database(app):
    with app.app_context():
        db.session.add(Post(user_id=12345, title="orphan", body="no such user"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 0
