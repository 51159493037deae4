"""The audit log: each change the API makes has its row in the audit database (the
``audit`` bind), a refused change has none, and ``/api/audit`` lists them.

The audit database is on the same backend as the default one, each fresh and
migrated to its head by its own history.
"""

import re

import sqlalchemy as sa

from app import posts
from app.db import db
from app.models import AuditEvent, User


def audit_rows(audit_database) -> list[dict]:
    """Every audit row, oldest first: what the audit database holds, read through
    the model's table (MariaDB's JSON is LONGTEXT to reflection)."""
    table = AuditEvent.__table__
    columns = [table.c.action, table.c.entity, table.c.entity_id, table.c.detail]
    with audit_database.engine.connect() as connection:
        rows = connection.execute(sa.select(*columns).order_by(table.c.id))
        return [dict(row) for row in rows.mappings()]


def user_count(app) -> int:
    """How many users the default database holds."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def test_each_change_writes_its_audit_row(app, database, audit_database):
    client = app.test_client()
    user = client.post("/api/users", json={"username": "ada", "email": "a@x.org"})
    user_id = user.json["id"]
    posts_url = f"/api/users/{user_id}/posts"
    post = client.post(posts_url, json={"title": "Hi", "body": "First."})
    post_id = post.json["id"]
    client.patch(f"{posts_url}/{post_id}", json={"title": "Hello", "body": "!"})
    client.delete(f"{posts_url}/{post_id}")
    client.patch(f"/api/users/{user_id}", json={"display_name": "Ada L."})
    last_post = client.post(posts_url, json={"title": "Bye", "body": "Last."})
    client.delete(f"/api/users/{user_id}")

    assert audit_rows(audit_database) == [
        {
            "action": "user.created",
            "entity": "user",
            "entity_id": user_id,
            "detail": {"username": "ada"},
        },
        {
            "action": "post.created",
            "entity": "post",
            "entity_id": post_id,
            "detail": {"user_id": user_id, "title": "Hi"},
        },
        {
            "action": "post.updated",
            "entity": "post",
            "entity_id": post_id,
            "detail": {"fields": ["body", "title"]},
        },
        {
            "action": "post.deleted",
            "entity": "post",
            "entity_id": post_id,
            "detail": {"user_id": user_id},
        },
        {
            "action": "user.updated",
            "entity": "user",
            "entity_id": user_id,
            "detail": {"fields": ["display_name"]},
        },
        {
            "action": "post.created",
            "entity": "post",
            "entity_id": last_post.json["id"],
            "detail": {"user_id": user_id, "title": "Bye"},
        },
        {
            "action": "user.deleted",
            "entity": "user",
            "entity_id": user_id,
            "detail": {"username": "ada", "posts": 1},
        },
    ]
    # Each table lives in its own database only.
    assert "audit_events" not in database.tables()
    assert audit_database.tables() == {*audit_database.kit_tables(), "audit_events"}


def test_a_refused_change_writes_no_audit_row(app, audit_database, monkeypatch):
    client = app.test_client()
    user = client.post("/api/users", json={"username": "ada", "email": "a@x.org"})
    user_id = user.json["id"]
    refused = [
        # The database refuses it: a taken username (409).
        client.post("/api/users", json={"username": "ada", "email": "b@x.org"}),
        # The app refuses it: a bad field (400), a missing row (404).
        client.post("/api/users", json={"username": "no spaces", "email": "c@x.org"}),
        client.patch("/api/users/999", json={"display_name": "x"}),
        client.post("/api/users/999/posts", json={"title": "t", "body": "b"}),
    ]
    # The user disappears between the check and the INSERT: the foreign key refuses.
    monkeypatch.setattr(posts, "user_or_404", lambda user_id: None)
    refused.append(
        client.post("/api/users/998/posts", json={"title": "t", "body": "b"})
    )
    # Nothing to change, or the value it has already: no change, no row.
    unchanged = [
        client.patch(f"/api/users/{user_id}", json={}),
        client.patch(f"/api/users/{user_id}", json={"display_name": "ada"}),
    ]

    assert [response.status_code for response in refused] == [409, 400, 404, 404, 404]
    assert [response.status_code for response in unchanged] == [200, 200]
    assert [row["action"] for row in audit_rows(audit_database)] == ["user.created"]


def test_a_failed_audit_write_fails_the_request_and_keeps_no_change(
    app, audit_database
):
    """No change without its audit row: when the audit database cannot take the
    row, the change is rolled back."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # TESTING re-raises; answer as in use
    client = app.test_client()
    client.post("/api/users", json={"username": "ada", "email": "a@x.org"})
    with audit_database.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE audit_events RENAME TO audit_moved"))

    response = client.post("/api/users", json={"username": "bob", "email": "b@x.org"})

    assert response.status_code == 500
    assert response.json == {"error": "internal server error"}
    assert user_count(app) == 1
    assert client.get("/api/users").json["total"] == 1


def test_audit_events_are_listed_in_pages(app):
    client = app.test_client()
    for name in ("ada", "bob", "cyd"):
        client.post("/api/users", json={"username": name, "email": f"{name}@x.org"})

    page = client.get("/api/audit?page=2&per_page=2")

    assert page.status_code == 200
    assert (page.json["page"], page.json["total"], page.json["pages"]) == (2, 3, 2)
    [event] = page.json["items"]
    assert event["action"] == "user.created"
    assert event["detail"] == {"username": "cyd"}
    # Microseconds kept on every database, MariaDB's DATETIME(6) included (an
    # event exactly on a second, one in a million, would show none).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["occurred_at"])
    assert client.get("/api/audit?page=0").status_code == 400
    assert client.post("/api/audit", json={}).status_code == 405


def test_the_audit_model_is_in_its_own_database(app):
    with app.app_context():
        assert db.metadatas["audit"].tables.keys() == {"audit_events"}
        assert "audit_events" not in db.metadata.tables
        assert AuditEvent.__table__.metadata is db.metadatas["audit"]
