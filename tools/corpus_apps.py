"""The real applications the corpus walks through two of their releases
(``tests/test_corpus.py``): where each one's repository and models are, what it is
published under, its releases and databases; and a models file's text at a
release, read from the mirror of the repository."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The folder of the applications' repositories (bare, ``<owner>+<name>/repo``).
MIRRORS = Path(os.environ.get("CORPUS_MIRRORS", "mirrors"))


@dataclass(frozen=True)
class App:
    """Where an application's models are, and what it is published under."""

    repo: str
    license: str
    prefix: str
    paths: tuple[str, ...]
    versions: tuple[str, str]  # older, newer
    databases: tuple[str, ...] = ("sqlite", "postgresql", "mysql")

    @property
    def mirror(self) -> Path:
        """The bare git directory ``fetch`` leaves for the repository."""
        return MIRRORS / self.repo.replace("/", "+") / "repo"


APPS = {
    "ctfd": App(
        repo="CTFd/CTFd",
        license="Apache-2.0",
        prefix="ctfd_",
        paths=("CTFd/models/__init__.py",),
        versions=("3.7.0", "3.8.0"),
    ),
    "flaskbb": App(
        repo="flaskbb/flaskbb",
        license="BSD-3-Clause",
        prefix="flaskbb_",
        paths=(
            "flaskbb/utils/database.py",
            "flaskbb/utils/forms.py",
            "flaskbb/forum/models.py",
            "flaskbb/user/models.py",
            "flaskbb/management/models.py",
            "flaskbb/plugins/models.py",
        ),
        versions=("v1.0", "v2.0.0"),
    ),
    "pgadmin": App(
        repo="pgadmin-org/pgadmin4",
        license="PostgreSQL",
        prefix="pgadmin_",
        paths=("web/pgadmin/model/__init__.py",),
        versions=("REL-9_0", "REL-9_5"),
    ),
    "lemur": App(
        repo="Netflix/lemur",
        license="Apache-2.0",
        prefix="lemur_",
        paths=(
            "lemur/utils.py",
            "lemur/models.py",
            "lemur/policies/models.py",
            "lemur/users/models.py",
            "lemur/roles/models.py",
            "lemur/authorities/models.py",
            "lemur/domains/models.py",
            "lemur/dns_providers/models.py",
            "lemur/certificates/models.py",
            "lemur/destinations/models.py",
            "lemur/notifications/models.py",
            "lemur/sources/models.py",
            "lemur/endpoints/models.py",
            "lemur/logs/models.py",
            "lemur/pending_certificates/models.py",
            "lemur/api_keys/models.py",
            "lemur/authorizations/models.py",
        ),
        versions=("v1.3.2", "v1.9.3"),
        databases=("postgresql",),
    ),
}


def source_at(mirror: Path, tag: str, path: str) -> str | None:
    """The file's text at ``tag``, or None where the tag has no such file."""
    result = subprocess.run(
        ["git", f"--git-dir={mirror}", "show", f"{tag}:{path}"],
        capture_output=True,
        text=True,
    )
    return result.stdout if result.returncode == 0 else None
