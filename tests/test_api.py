"""The JSON API over users and their posts, on every configured database.

Each test gets the app on a fresh database built by ``alembic upgrade head``.
"""

import json
import re

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from app import posts
from app.db import db
from app.models import Post, User
from app.validation import MAX_PER_PAGE, TEXT_MAX_BYTES

USERNAME_LENGTH = sa.inspect(User).columns.username.type.length
EMAIL_LENGTH = sa.inspect(User).columns.email.type.length
DISPLAY_NAME_LENGTH = sa.inspect(User).columns.display_name.type.length
TITLE_LENGTH = sa.inspect(Post).columns.title.type.length


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


def create_user(client, username: str = "alice", **fields) -> dict:
    """Create a user through the API and return it."""
    body = {"username": username, "email": f"{username}@example.org"} | fields
    response = client.post("/api/users", json=body)
    assert response.status_code == 201, response.json
    return response.json


def create_post(client, user_id: int, title: str = "Hello") -> dict:
    """Create a post through the API and return it."""
    body = {"title": title, "body": f"{title}, world."}
    response = client.post(f"/api/users/{user_id}/posts", json=body)
    assert response.status_code == 201, response.json
    return response.json


def row_counts(app) -> dict[str, int]:
    """How many users and posts the database holds."""
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(
                sa.select(sa.func.count()).select_from(model)
            )
            for model in (User, Post)
        }


# Users


def test_create_user_answers_it_and_where_it_lives(client):
    response = client.post(
        "/api/users", json={"username": "alice", "email": "alice@example.org"}
    )
    assert response.status_code == 201
    user = response.json
    assert user == {
        "id": user["id"],
        "username": "alice",
        "email": "alice@example.org",
        "display_name": "alice",  # defaults to the username
    }
    assert response.headers["Location"] == f"/api/users/{user['id']}"
    assert client.get(response.headers["Location"]).json == user

    named = create_user(client, "bob", display_name="Bob the Builder")
    assert named["display_name"] == "Bob the Builder"


def test_users_are_listed_in_pages_in_creation_order(client):
    ids = [create_user(client, f"user{n}")["id"] for n in range(5)]

    pages = [client.get(f"/api/users?page={n}&per_page=2").json for n in (1, 2, 3, 4)]

    assert [[u["id"] for u in page["items"]] for page in pages] == [
        ids[0:2],
        ids[2:4],
        ids[4:5],
        [],
    ]
    assert {(p["total"], p["pages"], p["per_page"]) for p in pages} == {(5, 3, 2)}
    default = client.get("/api/users").json
    assert (default["page"], default["per_page"], len(default["items"])) == (1, 20, 5)


def test_update_user_changes_only_the_fields_given(client):
    user = create_user(client)

    response = client.patch(
        f"/api/users/{user['id']}",
        json={"display_name": "Alice L.", "email": "liddell@example.org"},
    )

    assert response.status_code == 200
    expected = user | {"display_name": "Alice L.", "email": "liddell@example.org"}
    assert response.json == expected
    assert client.get(f"/api/users/{user['id']}").json == expected


def test_delete_user_deletes_their_posts(app, client):
    alice, bob = create_user(client, "alice"), create_user(client, "bob")
    create_post(client, alice["id"])
    create_post(client, bob["id"])

    response = client.delete(f"/api/users/{alice['id']}")

    assert (response.status_code, response.data) == (204, b"")
    assert client.get(f"/api/users/{alice['id']}").status_code == 404
    assert row_counts(app) == {"users": 1, "posts": 1}


NOT_FOUND = [
    ("GET", "/api/users/999"),
    ("PATCH", "/api/users/999"),
    ("DELETE", "/api/users/999"),
    ("GET", "/api/users/999/posts"),
    ("POST", "/api/users/999/posts"),
    ("GET", "/api/users/{alice}/posts/999"),
    ("GET", "/api/users/{bob}/posts/{alices_post}"),  # a post of someone else
    ("PATCH", "/api/users/{bob}/posts/{alices_post}"),
    ("DELETE", "/api/users/{bob}/posts/{alices_post}"),
    ("GET", f"/api/users/{2**31}"),  # beyond any INTEGER id
    ("GET", f"/api/users/{2**64}"),  # would overflow SQLite
    ("GET", "/api/users/0"),
    ("GET", "/api/nothing-here"),
]


def test_missing_rows_and_routes_are_404_in_json(app, client):
    # One database for all the cases: building one per case would cost more than the
    # cases themselves on the servers.
    alice, bob = create_user(client, "alice"), create_user(client, "bob")
    ids = {"alice": alice["id"], "bob": bob["id"]}
    ids["alices_post"] = create_post(client, alice["id"])["id"]
    body = {"title": "t", "body": "b", "display_name": "d"}

    for method, path in NOT_FOUND:
        response = client.open(path.format(**ids), method=method, json=body)
        assert response.status_code == 404, (method, path)
        assert set(response.json) == {"error"}, (method, path)

    assert row_counts(app) == {"users": 2, "posts": 1}
    assert client.get("/api/users/999").json == {"error": "user 999 not found"}


# Conflicts


def test_duplicate_username_or_email_is_409_naming_the_field(app, client):
    create_user(client, "alice")

    taken_username = {"username": "alice", "email": "other@example.org"}
    taken_email = {"username": "other", "email": "alice@example.org"}
    for body, field in [(taken_username, "username"), (taken_email, "email")]:
        response = client.post("/api/users", json=body)
        assert response.status_code == 409
        assert response.json == {
            "error": f"{field} already taken",
            "fields": {field: "is already taken"},
        }
    assert row_counts(app) == {"users": 1, "posts": 0}


def test_conflicting_update_is_409_and_changes_nothing(client):
    create_user(client, "alice")
    bob = create_user(client, "bob")

    response = client.patch(
        f"/api/users/{bob['id']}",
        json={"display_name": "Robert", "email": "alice@example.org"},
    )

    assert response.status_code == 409
    assert response.json["fields"] == {"email": "is already taken"}
    assert client.get(f"/api/users/{bob['id']}").json == bob


def test_user_deleted_while_its_post_is_written_is_404(app, client, monkeypatch):
    # The user disappears between the existence check and the INSERT: the foreign key
    # catches it, and the answer is the 404 the check would have given.
    monkeypatch.setattr(posts, "user_or_404", lambda user_id: None)

    response = client.post("/api/users/999/posts", json={"title": "t", "body": "b"})

    assert response.status_code == 404
    assert response.json == {"error": "user 999 not found"}
    assert row_counts(app) == {"users": 0, "posts": 0}


# Bad input


def test_every_bad_field_is_named(client):
    response = client.post(
        "/api/users",
        json={
            "username": "x" * (USERNAME_LENGTH + 1),
            "email": "not-an-address",
            "display_name": 7,
            "is_admin": True,
        },
    )

    assert response.status_code == 400
    assert response.json == {
        "error": "invalid input",
        "fields": {
            "username": f"must be at most {USERNAME_LENGTH} characters",
            "email": "must be an email address (name@example.org)",
            "display_name": "must be a string",
            "is_admin": "is not a field of this resource",
        },
    }

    missing = client.post("/api/users", json={})
    assert missing.status_code == 400
    assert missing.json["fields"] == {"username": "is required", "email": "is required"}


def test_lengths_come_from_the_columns(client):
    longest_email = "a" * (EMAIL_LENGTH - len("@example.org")) + "@example.org"
    # Lengths are characters, as in the databases: a 4-byte emoji counts as one.
    longest_name = "é" * (DISPLAY_NAME_LENGTH - 1) + "\N{GRINNING FACE}"
    user = create_user(
        client, "u" * USERNAME_LENGTH, email=longest_email, display_name=longest_name
    )
    assert client.get(f"/api/users/{user['id']}").json == {
        "id": user["id"],
        "username": "u" * USERNAME_LENGTH,
        "email": longest_email,
        "display_name": longest_name,
    }

    too_long = client.post(
        f"/api/users/{user['id']}/posts",
        json={
            "title": "t" * (TITLE_LENGTH + 1),
            "body": "é" * (TEXT_MAX_BYTES // 2 + 1),
        },
    )
    assert too_long.status_code == 400
    assert too_long.json["fields"] == {
        "title": f"must be at most {TITLE_LENGTH} characters",
        "body": f"must be at most {TEXT_MAX_BYTES} bytes in UTF-8",
    }


UNSTORABLE_TEXT = [
    (None, "must not be null"),
    ("   ", "must not be blank"),
    ("a\x00b", "must not contain NUL characters"),
    ("a\ud800b", "must be valid Unicode (no unpaired surrogates)"),
    (["Alice"], "must be a string"),
]


def test_text_that_no_database_could_store_is_refused(client):
    user = create_user(client)
    for value, problem in UNSTORABLE_TEXT:
        response = client.patch(
            f"/api/users/{user['id']}", json={"display_name": value}
        )
        assert response.status_code == 400, value
        assert response.json["fields"] == {"display_name": problem}
    assert client.get(f"/api/users/{user['id']}").json == user


NOT_A_JSON_OBJECT = [
    {"data": "{not json", "content_type": "application/json"},
    {"json": ["alice", "alice@example.org"]},
    {"json": "alice"},
    {"json": None},
    {"data": {"username": "alice"}},  # a form, not JSON
]


def test_body_that_is_not_a_json_object_is_400(app, client):
    for request_body in NOT_A_JSON_OBJECT:
        response = client.post("/api/users", **request_body)
        assert response.status_code == 400, request_body
        assert response.json == {"error": "the request body must be a JSON object"}
    assert row_counts(app) == {"users": 0, "posts": 0}


BAD_PAGE_ARGUMENTS = [
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=two", "page"),
    ("page=%201", "page"),
    ("page=%D9%A3", "page"),  # an Arabic-Indic digit, which int() would accept
    (f"page={2**31}", "page"),
    (f"per_page={MAX_PER_PAGE + 1}", "per_page"),
    ("per_page=0", "per_page"),
    ("per_page=1.5", "per_page"),
]


def test_bad_page_arguments_are_400(client):
    user = create_user(client)
    for path in ["/api/users", f"/api/users/{user['id']}/posts"]:
        for query, field in BAD_PAGE_ARGUMENTS:
            response = client.get(f"{path}?{query}")
            assert response.status_code == 400, (path, query)
            assert list(response.json["fields"]) == [field], (path, query)


def test_other_http_errors_answer_json(client):
    too_large = client.post(
        "/api/users", data="x" * (1024 * 1024 + 1), content_type="application/json"
    )
    assert too_large.status_code == 413
    assert set(too_large.json) == {"error"}

    wrong_method = client.put("/api/users/1", json={})
    assert wrong_method.status_code == 405
    assert set(wrong_method.json) == {"error"}
    assert "PATCH" in wrong_method.headers["Allow"]


def test_crash_is_500_without_traceback_and_writes_nothing(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # TESTING re-raises; answer as in use

    @app.get("/crash")
    def crash():
        """Write a user, then fail before committing."""
        db.session.add(
            User(username="half", email="half@example.org", display_name="h")
        )
        db.session.flush()
        raise RuntimeError("secret detail")

    response = client.get("/crash")

    assert response.status_code == 500
    assert response.json == {"error": "internal server error"}
    assert b"secret detail" not in response.data
    assert b"Traceback" not in response.data
    assert row_counts(app) == {"users": 0, "posts": 0}


# Posts


def test_post_lifecycle_under_its_user(client):
    user = create_user(client)
    response = client.post(
        f"/api/users/{user['id']}/posts", json={"title": "Hi", "body": "First post."}
    )
    assert response.status_code == 201
    post = response.json
    assert post["user_id"] == user["id"]
    assert (post["title"], post["body"]) == ("Hi", "First post.")
    assert post["created_at"].endswith("Z")
    assert client.get(response.headers["Location"]).json == post

    updated = client.patch(response.headers["Location"], json={"body": "Edited."})
    assert updated.status_code == 200
    assert updated.json == post | {"body": "Edited."}
    refused = client.patch(response.headers["Location"], json={"title": None})
    assert refused.status_code == 400
    assert refused.json["fields"] == {"title": "must not be null"}
    assert client.get(response.headers["Location"]).json == updated.json

    deleted = client.delete(response.headers["Location"])
    assert deleted.status_code == 204
    assert client.get(response.headers["Location"]).status_code == 404


def test_posts_are_listed_per_user_in_pages(client):
    alice, bob = create_user(client, "alice"), create_user(client, "bob")
    alices = [create_post(client, alice["id"], f"a{n}")["id"] for n in range(3)]
    bobs = [create_post(client, bob["id"], "b")["id"]]

    first = client.get(f"/api/users/{alice['id']}/posts?per_page=2").json
    second = client.get(f"/api/users/{alice['id']}/posts?per_page=2&page=2").json

    assert [p["id"] for p in first["items"] + second["items"]] == alices
    assert (first["total"], first["pages"]) == (3, 2)
    assert [
        p["id"] for p in client.get(f"/api/users/{bob['id']}/posts").json["items"]
    ] == bobs


def test_bad_post_fields_are_named(client):
    user = create_user(client)
    response = client.post(
        f"/api/users/{user['id']}/posts",
        json={"title": "", "user_id": user["id"] + 1},
    )
    assert response.status_code == 400
    assert response.json["fields"] == {
        "title": "must not be blank",
        "body": "is required",
        "user_id": "is not a field of this resource",
    }


# A storm of bad requests

NOT_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
BLANK = st.text(alphabet=" \t\r\n", max_size=4)
WITH_NUL = st.text(max_size=8).map(lambda text: text + "\x00")
UNPAIRED_SURROGATE = st.text(max_size=8).map(lambda text: text + "\ud800")
BAD_USERNAME = st.text(min_size=1, max_size=12).filter(
    lambda text: not re.fullmatch(r"[A-Za-z0-9_.-]+", text)
)
BAD_EMAIL = st.one_of(
    st.text(alphabet=st.characters(exclude_characters="@"), max_size=30),
    st.sampled_from(
        ["a@b", "@example.org", "a@", "a b@example.org", "a@@example.org"]
        + ["a@example..org", "a@.org", "a@example.org.", "a@exam ple.org"]
    ),
)
# Stands for a required field left out of the body.
MISSING = object()


def too_long(column: sa.Column) -> st.SearchStrategy[str]:
    """Text one to ten characters longer than the column holds."""
    length = column.type.length
    return st.text(min_size=length + 1, max_size=length + 10)


def bad_text(column: sa.Column, *extra: st.SearchStrategy) -> st.SearchStrategy:
    """Values no text field accepts, and ``extra`` ones this field refuses."""
    length_errors = [too_long(column)] if column.type.length else []
    return st.one_of(
        NOT_STRINGS, BLANK, WITH_NUL, UNPAIRED_SURROGATE, *length_errors, *extra
    )


USER_BAD_VALUES = {
    "username": bad_text(sa.inspect(User).columns.username, BAD_USERNAME),
    "email": bad_text(sa.inspect(User).columns.email, BAD_EMAIL),
    "display_name": bad_text(sa.inspect(User).columns.display_name),
}
POST_BAD_VALUES = {
    "title": bad_text(sa.inspect(Post).columns.title),
    "body": bad_text(
        sa.inspect(Post).columns.body, st.just("é" * (TEXT_MAX_BYTES // 2 + 1))
    ),
}
GOOD_USER = {"username": "storm", "email": "storm@example.org", "display_name": "S"}
GOOD_POST = {"title": "Storm", "body": "Rain."}
USER_REQUIRED = frozenset({"username", "email"})
POST_REQUIRED = frozenset({"title", "body"})


@st.composite
def bad_body(draw, good: dict, bad_values: dict, required: frozenset) -> tuple:
    """A body with exactly one bad field, and that field's name.

    The field has a bad value, or is a ``required`` one left out, or is a field the
    resource does not have. Bodies without ``required`` fields may leave the good
    fields out (an update names only what it changes).
    """
    body = dict(good) if required else draw(st.sampled_from([{}, dict(good)]))
    kind = draw(
        st.sampled_from(["value", "unknown"] + (["missing"] if required else []))
    )
    if kind == "unknown":
        name = draw(st.text(min_size=1, max_size=10).filter(lambda n: n not in good))
        body[name] = draw(st.one_of(NOT_STRINGS, st.text(max_size=5)))
        return body, name
    if kind == "missing":
        name = draw(st.sampled_from(sorted(required)))
        del body[name]
        return body, name
    name = draw(st.sampled_from(sorted(bad_values)))
    body[name] = draw(bad_values[name])
    return body, name


def body_cases(method: str, path: str, good: dict, bad: dict, required=frozenset()):
    """Requests to ``path`` whose body has one bad field: 400 naming it."""
    return bad_body(good, bad, required).map(
        lambda case: (method, path, {"json": case[0]}, {case[1]})
    )


def not_an_object_cases(method: str, path: str):
    """Requests to ``path`` whose body is not a JSON object: 400, no field."""
    json_values = st.one_of(NOT_STRINGS, st.text(max_size=10)).filter(
        lambda value: not isinstance(value, dict)
    )
    raw = st.binary(max_size=20).filter(lambda data: not is_json_object(data))
    return st.one_of(
        json_values.map(lambda value: {"json": value}),
        raw.map(lambda data: {"data": data, "content_type": "application/json"}),
    ).map(lambda request: (method, path, request, None))


def is_json_object(data: bytes) -> bool:
    """True when ``data`` parses as a JSON object."""
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def bad_page_cases(path: str):
    """Listings with an out-of-range or non-numeric page argument: 400 naming it."""
    not_a_number = st.text(max_size=6).filter(lambda t: not re.fullmatch("[0-9]+", t))
    bad_page = st.one_of(st.integers(max_value=0).map(str), not_a_number)
    bad_per_page = st.one_of(
        st.integers(max_value=0).map(str),
        st.integers(min_value=MAX_PER_PAGE + 1).map(str),
        not_a_number,
    )
    return st.one_of(
        bad_page.map(lambda v: ("GET", path, {"query_string": {"page": v}}, {"page"})),
        bad_per_page.map(
            lambda v: ("GET", path, {"query_string": {"per_page": v}}, {"per_page"})
        ),
    )


def bad_requests():
    """Every kind of bad request, to every endpoint that takes input."""
    user, post = "/api/users/{user}", "/api/users/{user}/posts/{post}"
    return st.one_of(
        body_cases("POST", "/api/users", GOOD_USER, USER_BAD_VALUES, USER_REQUIRED),
        body_cases("PATCH", user, GOOD_USER, USER_BAD_VALUES),
        body_cases("POST", user + "/posts", GOOD_POST, POST_BAD_VALUES, POST_REQUIRED),
        body_cases("PATCH", post, GOOD_POST, POST_BAD_VALUES),
        not_an_object_cases("POST", "/api/users"),
        not_an_object_cases("PATCH", post),
        bad_page_cases("/api/users"),
        bad_page_cases(user + "/posts"),
    )


def table_rows(app) -> dict[str, list[tuple]]:
    """Every row of the users and posts tables, in id order."""
    with app.app_context():
        return {
            model.__tablename__: [
                tuple(row)
                for row in db.session.execute(
                    sa.select(*model.__table__.columns).order_by(model.id)
                )
            ]
            for model in (User, Post)
        }


def test_storm_of_bad_requests_changes_no_row(app, client):
    user = create_user(client)
    ids = {"user": user["id"], "post": create_post(client, user["id"])["id"]}
    before = table_rows(app)
    sent = []

    # @given sits on an inner function rather than on the test, so that one app and
    # one database per backend serve every example (building a migrated database per
    # example would take minutes), without silencing Hypothesis's health check on
    # function-scoped fixtures; it also lets the test count the examples and check
    # the tables once they are all sent.
    @settings(max_examples=250, deadline=None, database=None)
    @given(case=bad_requests())
    def send(case):
        """Send one bad request: 400 naming the bad field, and no row changed."""
        method, path, request, bad_fields = case
        response = client.open(path.format(**ids), method=method, **request)
        assert response.status_code == 400, response.json
        assert set(response.json.get("fields", {})) == (bad_fields or set())
        assert table_rows(app) == before
        sent.append(case)

    send()

    assert len(sent) >= 200
    assert table_rows(app) == before
