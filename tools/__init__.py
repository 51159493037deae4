"""Developer commands that are not the app: the migration review and schema snapshot.

Nothing in ``app/`` imports this package.
"""
