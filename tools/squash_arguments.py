"""``migration-squash``'s command line."""

import argparse


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="migration-squash",
        description="Replace REV and every revision before it with one baseline "
        "revision, with REV's id, that creates the schema as it is at REV. "
        "Databases at REV or later need nothing.",
    )
    parser.add_argument("revision", metavar="REV", help="the last revision to squash")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the baseline and the files it replaces; write nothing",
    )
    parser.add_argument(
        "--postgresql",
        metavar="SERVER_URL",
        help="migrate a throw-away database here too, for the enum types, time "
        "zones, UUIDs and comments SQLite does not keep (default: "
        "$TEST_POSTGRESQL_URL)",
    )
    parser.add_argument(
        "--mysql",
        metavar="SERVER_URL",
        help="check the baseline on a throw-away database here too (default: "
        "$TEST_MYSQL_URL)",
    )
    parser.add_argument(
        "-c", "--config", default="alembic.ini", help="Alembic config file"
    )
    return parser.parse_args(argv)
