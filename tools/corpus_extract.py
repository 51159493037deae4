"""Extract a real application's model classes, mechanically, into a standalone
fixture module defined on the reference project's ``db`` (issue 21).

Given a mirror of the application's repository (a bare git directory), a tag and
the files holding its models, the module written keeps what makes the schema:
columns, constraints, indexes, association tables, inheritance, and the Python
enums and ``TypeDecorator`` implementations columns use. It strips what would
import the rest of the application: methods, properties, relationships, mixins,
and any argument naming something it does not keep. Every table is prefixed
(``ctfd_users``), so none clashes with the reference app's, and foreign keys are
rewritten to match. The header lists what was stripped and why. The presets are
in ``corpus_apps.py``, a model class's extraction in ``corpus_models.py``; this
module walks the models files and writes the fixture.

    python -m tools.corpus_extract ctfd 3.7.0 --mirror mirrors/CTFd+CTFd/repo
    python -m tools.corpus_extract --all          # every preset, into tests/corpus/

The fixtures are not committed: they are the applications' code. The tests run
this script on the mirror instead, and the output is the same on every run.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

from tools.corpus_apps import APPS, App, source_at
from tools.corpus_models import (
    Extraction,
    extract_model,
    is_enum,
    last_name,
    model_bases,
    type_decorator_impl,
    without_unknown_keywords,
)

ROOT = Path(__file__).resolve().parent.parent

# Modules a fixture may import: SQLAlchemy and the standard library's value types.
KEPT_MODULES = {"sqlalchemy", "datetime", "enum", "uuid", "decimal", "typing", "json"}


def extract_statement(statement: ast.stmt, path: str, extraction: Extraction) -> None:
    """Keep, rewrite or strip one module-level statement of a models file."""
    if isinstance(statement, ast.Import | ast.ImportFrom):
        module = (
            statement.module if isinstance(statement, ast.ImportFrom) else None
        ) or statement.names[0].name
        if statement_level(statement) == 0 and module.split(".")[0] in KEPT_MODULES:
            extraction.imports.append(statement)
            extraction.defined.update(
                (alias.asname or alias.name).split(".")[0] for alias in statement.names
            )
        return
    if isinstance(statement, ast.ClassDef):
        if statement.name in extraction.defined:
            extraction.strip(path, f"class {statement.name} (defined twice)")
        elif model_bases(statement, extraction):
            extraction.substitute_into(statement)
            extraction.body.append(extract_model(statement, extraction))
            extraction.models.add(statement.name)
            extraction.defined.add(statement.name)
        elif is_enum(statement):
            values = [each for each in statement.body if isinstance(each, ast.Assign)]
            statement.body = values or [ast.Pass()]
            statement.decorator_list = []
            extraction.body.append(statement)
            extraction.defined.add(statement.name)
        elif (impl := type_decorator_impl(statement)) is not None:
            extraction.substitutions[statement.name] = impl
            extraction.defined.add(statement.name)
            extraction.strip(
                path,
                f"class {statement.name} (a TypeDecorator: its impl stands for it)",
            )
        else:
            extraction.strip(path, f"class {statement.name} (not a model)")
        return
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        [target] = statement.targets
        value = statement.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            if isinstance(value.value, str) and re.fullmatch(r"\w+\.\w+", value.value):
                extraction.body.append(statement)  # a key's target: USER_ID = "user.id"
                extraction.defined.add(target.id)
            return
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Call)
            and last_name(value.func) == "Table"
        ):
            extraction.substitute_into(value)
            value = without_unknown_keywords(
                value, extraction.defined, target.id, extraction
            )
            if value is not None:
                extraction.tables.add(value.args[0].value)
                extraction.body.append(statement)
                extraction.defined.add(target.id)
                return
    if not isinstance(statement, ast.Expr):
        extraction.strip(path, f"{type(statement).__name__} at line {statement.lineno}")


def statement_level(statement: ast.stmt) -> int:
    """0 for an absolute import, the number of dots for a relative one."""
    return getattr(statement, "level", 0) or 0


class PrefixTables(ast.NodeTransformer):
    """Prefix every kept table's name, where it is named and where keys refer to it."""

    def __init__(self, prefix: str, tables: set[str]) -> None:
        self.prefix = prefix
        self.tables = tables

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        """``"users"``, ``"users.id"`` become ``"ctfd_users"``, ``"ctfd_users.id"``."""
        if isinstance(node.value, str):
            table = node.value.split(".")[0]
            if table in self.tables and re.fullmatch(r"\w+(\.\w+)?", node.value):
                return ast.Constant(self.prefix + node.value)
        return node


def extract(app: App, tag: str, mirror: Path | None = None) -> str:
    """The fixture module's text for ``app`` at ``tag``."""
    mirror = mirror or app.mirror
    extraction = Extraction(app)
    for path in app.paths:
        source = source_at(mirror, tag, path)
        if source is None:
            extraction.strip(path, f"absent at {tag}")
            continue
        for statement in ast.parse(source).body:
            extract_statement(statement, path, extraction)
    module = ast.Module(body=extraction.body, type_ignores=[])
    # Names the application chose for tables are prefixed; keys follow them.
    PrefixTables(app.prefix, extraction.tables).visit(module)
    ast.fix_missing_locations(module)
    return render(app, tag, extraction, module)


def render(app: App, tag: str, extraction: Extraction, module: ast.Module) -> str:
    """The header, the imports and the kept statements."""
    stripped = "\n".join(f"#   {line}" for line in extraction.stripped)
    imports = "\n".join(ast.unparse(each) for each in extraction.imports)
    tables = ", ".join(sorted(extraction.tables))
    header = f"""# tools/corpus_extract.py wrote this from {app.repo} at {tag}.
# Project: https://github.com/{app.repo} ({app.license} license)
# Paths: {", ".join(app.paths)}
# Tables ({len(extraction.tables)}), prefixed {app.prefix!r}: {tables}
# Kept: columns, __tablename__, __table_args__, __mapper_args__, association tables,
# Python enums and the key-target constants columns use. Each TypeDecorator is
# replaced by its impl. db.Model stands for the application's base model.
# Stripped (the rest imports or runs the application):
{stripped}
# ruff: noqa
"""
    return f"{header}\nfrom app.db import db\n{imports}\n\n\n{ast.unparse(module)}\n"


def fixture_name(name: str, tag: str) -> str:
    """``ctfd_3_7_0`` for CTFd at 3.7.0: a module name."""
    version = re.sub(r"\W", "_", tag.lstrip("v")).lower()
    return f"{name}_{version}"


def main(argv: list[str] | None = None) -> int:
    """Write one fixture, or every preset's two with ``--all``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", nargs="?", choices=sorted(APPS))
    parser.add_argument("tag", nargs="?")
    parser.add_argument("--mirror", type=Path, help="the bare git directory")
    parser.add_argument(
        "--paths", nargs="+", help="the models' files, if not the preset's"
    )
    parser.add_argument("--all", action="store_true", help="every preset's versions")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "corpus")
    options = parser.parse_args(argv)
    if options.all:
        wanted = [(name, tag) for name, app in APPS.items() for tag in app.versions]
    elif options.app and options.tag:
        wanted = [(options.app, options.tag)]
    else:
        parser.error("name an app and a tag, or --all")
    options.out.mkdir(parents=True, exist_ok=True)
    for name, tag in wanted:
        app = APPS[name]
        if options.paths:
            app = App(**{**app.__dict__, "paths": tuple(options.paths)})
        path = options.out / f"{fixture_name(name, tag)}.py"
        path.write_text(extract(app, tag, options.mirror))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
