"""What ``alembic revision --autogenerate`` and ``alembic check`` compare, and how
the revision file is written: the options env.py passes to ``context.configure``."""

import logging

log = logging.getLogger("alembic.env")


def skip_empty_revision(context, revision, directives) -> None:
    """Write no revision file when ``revision --autogenerate`` finds no change."""
    autogenerate = getattr(context.config.cmd_opts, "autogenerate", False)
    if autogenerate and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected; no revision file written.")


def autogenerate_options() -> dict:
    """The options for ``context.configure`` that shape autogenerate: types and
    server defaults compared, no file for no change."""
    return {
        "compare_type": True,
        "compare_server_default": True,
        "process_revision_directives": skip_empty_revision,
    }
