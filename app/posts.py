"""``/api/users/<user_id>/posts``: a user's posts, created, listed, read, updated and
deleted under that user."""

import sqlalchemy as sa
from flask import Blueprint, url_for

from app.audit import changed_fields, commit_audited
from app.db import db
from app.models import Post
from app.users import user_or_404
from app.validation import TextField, json_body, page_arguments, page_json, validated

bp = Blueprint("posts", __name__, url_prefix="/api/users/<id:user_id>/posts")

POST_FIELDS = {
    "title": TextField(sa.inspect(Post).columns.title),
    "body": TextField(sa.inspect(Post).columns.body),
}
REQUIRED_ON_CREATE = frozenset(POST_FIELDS)


def post_json(post: Post) -> dict:
    """A post as the API shows it; ``created_at`` in ISO 8601, UTC."""
    return {
        "id": post.id,
        "user_id": post.user_id,
        "title": post.title,
        "body": post.body,
        "created_at": post.created_at.isoformat() + "Z",
    }


def post_or_404(user_id: int, post_id: int) -> Post:
    """The post with this id written by this user, or a 404."""
    return db.first_or_404(
        sa.select(Post).where(Post.id == post_id, Post.user_id == user_id),
        description=f"post {post_id} of user {user_id} not found",
    )


@bp.get("")
def list_posts(user_id: int):
    """A page of the user's posts, oldest first (by id)."""
    user_or_404(user_id)
    page, per_page = page_arguments()
    posts = db.paginate(
        sa.select(Post).where(Post.user_id == user_id).order_by(Post.id),
        page=page,
        per_page=per_page,
        error_out=False,
    )
    return page_json(posts, post_json)


@bp.post("")
def create_post(user_id: int):
    """Create a post written by the user."""
    user_or_404(user_id)
    values = validated(json_body(), POST_FIELDS, REQUIRED_ON_CREATE)
    post = Post(user_id=user_id, **values)
    db.session.add(post)
    commit_audited(
        Post.__table__,
        "post.created",
        post,
        {"user_id": user_id, "title": post.title},
        missing_parent=f"user {user_id} not found",
    )
    location = url_for(".get_post", user_id=user_id, post_id=post.id)
    return post_json(post), 201, {"Location": location}


@bp.get("/<id:post_id>")
def get_post(user_id: int, post_id: int):
    """One of the user's posts."""
    return post_json(post_or_404(user_id, post_id))


@bp.patch("/<id:post_id>")
def update_post(user_id: int, post_id: int):
    """Change the fields the body names; the others stay as they are."""
    post = post_or_404(user_id, post_id)
    values = validated(json_body(), POST_FIELDS)
    for name, value in values.items():
        setattr(post, name, value)
    fields = changed_fields(post, values)
    if not fields:
        return post_json(post)  # nothing changed, nothing to audit
    commit_audited(Post.__table__, "post.updated", post, {"fields": fields})
    return post_json(post)


@bp.delete("/<id:post_id>")
def delete_post(user_id: int, post_id: int):
    """Delete one of the user's posts."""
    post = post_or_404(user_id, post_id)
    db.session.delete(post)
    commit_audited(Post.__table__, "post.deleted", post, {"user_id": user_id})
    return "", 204
