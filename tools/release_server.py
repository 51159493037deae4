"""One release of a project, served over HTTP in a process of its own, for the
rolling deploys of the tests and the bench (``rolling_deploy.py``): run in the
release's folder, it serves that folder's ``create_app()`` on 127.0.0.1, on a port
the system picks, prints the port, and serves until it is terminated. Configured by
the environment (``DATABASE_URL``, ``MIGRATION_GUARD``, ...), as a deployed release
is. Run by its path, not imported: the release's own ``app`` package comes first."""

import os
import sys

from werkzeug.serving import make_server


def main() -> None:
    """Serve the release in the working folder."""
    sys.path.insert(0, os.getcwd())  # the release's own app package
    from app import create_app

    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    print(server.port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
