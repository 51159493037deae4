"""The git questions the review asks: where the checkout is, what the base is, which
revision files changed since it, and what the base's files said."""

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DEFAULT_BASES = ("origin/main", "main")

# No git command the tools run takes long: one that hangs (a stale lock on a network
# file system, a prompt) is given up after this many seconds, in one line.
GIT_TIMEOUT = 120


class ReviewInputError(Exception):
    """Bad input: not a git checkout, an unknown base. One line, exit status 2."""


def run_git(root: Path, *args: str, binary: bool = False):
    """Run git in ``root``, reading nothing from the terminal; the finished process,
    or ReviewInputError when git does not answer within ``GIT_TIMEOUT``.

    Its output goes to files, not pipes: reading a pipe to its end waits for every
    process holding it. In one run of the test suite under load, ``git merge-base``
    and ``git ls-tree`` exited 0 with their answers read and their stdout's end
    read, and the end of their stderr did not come within 120 s. Waiting for git's
    exit alone does not depend on who else holds a pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = subprocess.run(
                ["git", *args],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=GIT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise ReviewInputError(
                f"git {args[0]} did not answer within {GIT_TIMEOUT} s in {root}"
            ) from None
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if not binary:
        stdout, stderr = stdout.decode(), stderr.decode(errors="replace")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def git(root: Path, *args: str, binary: bool = False):
    """Run git in ``root``; its stdout, or ReviewInputError with git's first line."""
    result = run_git(root, *args, binary=binary)
    if result.returncode != 0:
        stderr = result.stderr if not binary else result.stderr.decode(errors="replace")
        lines = stderr.strip().splitlines()
        raise ReviewInputError(f"git {args[0]} failed: {lines[0] if lines else ''}")
    return result.stdout


def checkout_root(directory: Path) -> Path:
    """The top of the git checkout containing ``directory``."""
    result = run_git(directory, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise ReviewInputError(f"not a git checkout: {directory}")
    return Path(result.stdout.strip())


def resolve_base(root: Path, base: str | None) -> str:
    """The base to compare with: the one given, else origin/main, else main."""
    candidates = (base,) if base else DEFAULT_BASES
    for candidate in candidates:
        result = run_git(
            root, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"
        )
        if result.returncode == 0:
            return candidate
    if base:
        raise ReviewInputError(f"unknown git base: {base!r} is not a commit here")
    raise ReviewInputError(
        "no git base: neither origin/main nor main exists; pass --base"
    )


@dataclass
class ChangedFile:
    """A revision file added, modified or deleted since the merge base."""

    status: str
    path: PurePosixPath


def changed_files(root: Path, merge_base: str, folders: list[str]) -> list[ChangedFile]:
    """Revision files changed in the working tree (committed or not) since the merge
    base, untracked new files included: the ``.py`` files right in ``folders`` (one
    history's), not in a folder below them (another history's, perhaps)."""
    output = git(
        root, "diff", "--no-renames", "--name-status", "-z", merge_base, "--", *folders
    )
    fields = output.split("\0")
    changed = [
        ChangedFile(status[0], PurePosixPath(path))
        for status, path in zip(fields[0::2], fields[1::2], strict=False)
    ]
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z", *folders)
    changed += [
        ChangedFile("A", PurePosixPath(path)) for path in untracked.split("\0") if path
    ]
    return [
        item
        for item in changed
        if item.path.suffix == ".py" and item.path.parent.as_posix() in folders
    ]


def export_folder(root: Path, commit: str, folder: str, destination: Path) -> None:
    """Write ``folder`` as it is at ``commit`` under ``destination`` (nothing when the
    commit has no such folder)."""
    listing = git(root, "ls-tree", "--name-only", commit, "--", folder)
    if not listing.strip():
        return
    archive = git(root, "archive", "--format=tar", commit, "--", folder, binary=True)
    extract(archive, destination)


def export_tree(root: Path, commit: str, destination: Path) -> None:
    """Write every file of ``commit`` under ``destination``: a checkout of it
    without a worktree to register or remove."""
    extract(git(root, "archive", "--format=tar", commit, binary=True), destination)


def extract(archive: bytes, destination: Path) -> None:
    """A tar archive git wrote, extracted under ``destination``."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        # The "data" filter refuses absolute paths and links out of the folder
        # (Python 3.11.4+; git archive writes neither).
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
        else:  # pragma: no cover
            tar.extractall(destination)  # noqa: S202


def file_at(root: Path, commit: str, path: PurePosixPath) -> str:
    """A file's text at a commit."""
    return git(root, "show", f"{commit}:{path}")
