"""The kit's shape (README, "Layout" and "Adopting the kit"): a package any
Flask-SQLAlchemy + Alembic project can use, which never imports the app it
serves, in modules a reader can take in whole; ``alembic/`` a plain folder."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The longest module of the kit or its commands, in lines: past it, a module holds
# more than one concept and splits along them.
LONGEST_MODULE = 300


def modules(*folders: str) -> list[Path]:
    """The Python files under the folders of this repository, sorted."""
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    """A path as the repository names it."""
    return str(path.relative_to(ROOT))


def imported_names(path: Path) -> set[str]:
    """The top-level package of every module a file imports, at any depth of it
    (a function's own import included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_kit_never_imports_the_app():
    importing = {
        relative(path): sorted(names)
        for path in modules("flask_alembic_kit")
        if (names := {"app", "tools", "bench", "tests"} & imported_names(path))
    }
    assert importing == {}


def test_every_module_of_the_kit_and_its_commands_reads_in_one_sitting():
    lines = {
        relative(path): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules("flask_alembic_kit", "tools")
    }
    too_long = {path: count for path, count in lines.items() if count > LONGEST_MODULE}
    assert too_long == {}, "split these by concern"


def test_the_alembic_folder_is_not_a_package():
    # An __init__.py there would make ``import alembic`` find this folder instead of
    # the library, wherever the repository's root is on sys.path.
    assert not list((ROOT / "alembic").rglob("__init__.py"))


def test_the_checks_above_see_what_they_check(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\nfrom app.db import db\n\ndef f():\n    import tools.review\n",
        encoding="utf-8",
    )
    assert imported_names(module) == {"os", "app", "tools"}
    assert len(modules("flask_alembic_kit")) > 30
    assert len(modules("tools")) > 20
