"""Benchmarks against the peers (Flask-Migrate, pytest-alembic) and the floors.

Run with ``python -m bench`` (see bench/README.md). Nothing in app/, alembic/, tools/
or tests/ imports this package, and the peers are imported only in the subprocesses
the benchmarks start.
"""
