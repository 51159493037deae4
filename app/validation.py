"""Checks on what clients send: JSON bodies, query arguments and ids in URLs.

Limits come from the models' columns, so a migration that widens a column widens
what the API accepts without touching this file.
"""

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import request
from werkzeug.routing import IntegerConverter

from app.errors import ApiError

# A Text column has no length in the model; MySQL's TEXT, the smallest of the three
# databases', holds 65,535 bytes.
TEXT_MAX_BYTES = 65_535

# Ids are 32-bit INTEGER columns on PostgreSQL and MySQL. A bigger number in a URL
# cannot name a row, and SQLite would overflow on it, so it matches no route (404).
MAX_ROW_ID = 2**31 - 1

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
# Keeps (page - 1) * per_page, the OFFSET, inside a 64-bit integer.
MAX_PAGE = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<id:name>`` in a route: a positive integer that can be a row's id."""

    def __init__(self, map, *args, **kwargs) -> None:
        """An ``int`` converter bounded to 1..``MAX_ROW_ID``."""
        super().__init__(map, min=1, max=MAX_ROW_ID)


@dataclass(frozen=True)
class TextField:
    """A string field stored in ``column``, optionally matching ``pattern``."""

    column: sa.Column
    pattern: re.Pattern | None = None
    pattern_hint: str = ""

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` for this field, or ``None`` when it fits."""
        if value is None:
            return "must not be null"
        if not isinstance(value, str):
            return "must be a string"
        if not value.strip():
            return "must not be blank"
        if "\x00" in value:
            return "must not contain NUL characters"
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            return "must be valid Unicode (no unpaired surrogates)"
        length = self.column.type.length
        if length is not None and len(value) > length:
            return f"must be at most {length} characters"
        if length is None and size > TEXT_MAX_BYTES:
            return f"must be at most {TEXT_MAX_BYTES} bytes in UTF-8"
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return self.pattern_hint
        return None


def json_body() -> dict:
    """The request's body parsed as JSON, or a 400 saying it must be a JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def validated(
    body: dict, fields: dict[str, TextField], required: frozenset[str] = frozenset()
) -> dict:
    """The fields of ``body``, checked; a 400 naming every bad field otherwise.

    Fields missing from ``required`` may be left out (an update changes only the
    fields it names); a field the resource does not have is an error.
    """
    problems = {
        name: "is not a field of this resource" for name in body if name not in fields
    }
    problems |= {name: "is required" for name in sorted(required - body.keys())}
    for name, field in fields.items():
        if name in body and (problem := field.problem(body[name])):
            problems[name] = problem
    if problems:
        raise ApiError(400, "invalid input", problems)
    return {name: body[name] for name in fields if name in body}


def page_arguments() -> tuple[int, int]:
    """``?page`` (from 1) and ``?per_page`` (1 to ``MAX_PER_PAGE``), checked."""
    problems = {}
    page = integer_argument("page", 1, MAX_PAGE, 1, problems)
    per_page = integer_argument("per_page", 1, MAX_PER_PAGE, DEFAULT_PER_PAGE, problems)
    if problems:
        raise ApiError(400, "invalid query arguments", problems)
    return page, per_page


def integer_argument(
    name: str, low: int, high: int, default: int, problems: dict
) -> int:
    """A whole-number query argument between ``low`` and ``high``.

    Only ASCII digits are accepted (``int()`` would also take ``" 7"``, ``"+7"``,
    ``"٧"``); a problem is added to ``problems`` and the default returned.
    """
    text = request.args.get(name)
    if text is None:
        return default
    if re.fullmatch(r"[0-9]{1,10}", text) and low <= int(text) <= high:
        return int(text)
    problems[name] = f"must be a whole number from {low} to {high}"
    return default


def page_json(page, item_json) -> dict:
    """A page of results: the items, where they are, and how many there are."""
    return {
        "items": [item_json(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
