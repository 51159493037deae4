"""``migration-review``'s command line: its options, each checked as it is read."""

import argparse


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="migration-review",
        description="Review the Alembic revisions added or changed since a git base.",
    )
    parser.add_argument(
        "--base",
        help="git ref to compare with (default: origin/main, falling back to main)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="review every revision of the history, not only the changed ones",
    )
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
    parser.add_argument(
        "-c", "--config", default="alembic.ini", help="Alembic config file"
    )
    parser.add_argument("-o", "--output", help="write the report to this file too")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="run the revisions on throw-away databases (SQLite, and the servers "
        "given) and report the locks, rewrites and time of every statement",
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=10_000,
        help="rows generated per table before tracing (default: 10000)",
    )
    parser.add_argument(
        "--max-lock-ms",
        type=non_negative,
        default=1000.0,
        help="a lock that blocks writes held longer is a finding (default: 1000)",
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        help="trace on this PostgreSQL server (default: $TEST_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--mysql",
        metavar="URL",
        help="trace on this MariaDB/MySQL server (default: $TEST_MYSQL_URL)",
    )
    return parser.parse_args(argv)


def non_negative(text: str) -> float:
    """Milliseconds, 0 or more, for ``--max-lock-ms``."""
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not number >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected milliseconds, 0 or more: {text!r}")
    return number


def positive_int(text: str) -> int:
    """A whole number above zero, for ``--rows``."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0: {text!r}")
    return number
