"""The audit log: a row in the audit database (the ``audit`` bind) for each change
the API makes, and ``/api/audit`` to read them.

Two databases share no transaction: SQLite has no two-phase commit, and
PostgreSQL's needs ``max_prepared_transactions``, off by default. A change is
therefore committed in this order:

1. the change is flushed, inside the default database's open transaction: a change
   the database refuses (409, 404) stops here, and writes no audit row;
2. its audit row is inserted and committed in the audit database: if that fails,
   the request fails (500, or the guard's 503) and the change is rolled back;
3. the change is committed.

So there is no change without its audit row. The window left is the other way
round: if the change's own commit fails after its audit row was committed (the
connection lost at that instant, SQLite's "database is locked", a deferred
constraint), the row records a change that is not there. An audit row says a
change was attempted and passed every check made before the commit.
"""

import sqlalchemy as sa
from flask import Blueprint

from app.db import db
from app.errors import refused_as_api_errors
from app.models import AuditEvent
from app.validation import page_arguments, page_json

bp = Blueprint("audit", __name__, url_prefix="/api/audit")


def commit_audited(
    table: sa.Table,
    action: str,
    row: db.Model,
    detail: dict,
    missing_parent: str = "not found",
) -> None:
    """Commit the session's change to ``row`` of ``table`` with its audit row, in
    the order above. ``action`` is ``<entity>.<verb>``: ``user.created``, ...; the
    row's id is read after the flush, which gives a new row its id."""
    with refused_as_api_errors(table, missing_parent):
        db.session.flush()
    event = {
        "action": action,
        "entity": action.split(".", 1)[0],
        "entity_id": row.id,
        "detail": detail,
    }
    with db.engines["audit"].begin() as connection:
        connection.execute(sa.insert(AuditEvent), event)
    with refused_as_api_errors(table, missing_parent):  # a deferred constraint
        db.session.commit()


def changed_fields(row: db.Model, names) -> list[str]:
    """The fields of ``row`` among ``names`` whose new value differs from the one
    loaded: a field set to the value it had is no change, and no event."""
    state = sa.inspect(row)
    return sorted(name for name in names if state.attrs[name].history.has_changes())


def event_json(event: AuditEvent) -> dict:
    """An audit event as the API shows it; ``occurred_at`` in ISO 8601, UTC."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat() + "Z",
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "detail": event.detail,
    }


@bp.get("")
def list_events():
    """A page of audit events, oldest first (by id)."""
    page, per_page = page_arguments()
    events = db.paginate(
        sa.select(AuditEvent).order_by(AuditEvent.id),
        page=page,
        per_page=per_page,
        error_out=False,
    )
    return page_json(events, event_json)
