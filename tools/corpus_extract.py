"""Extract a real application's model classes, mechanically, into a standalone
fixture module defined on the reference project's ``db`` (issue 21).

Given a mirror of the application's repository (a bare git directory), a tag and
the files holding its models, the module written keeps what makes the schema:
columns, constraints, indexes, association tables, inheritance, and the Python
enums and ``TypeDecorator`` implementations columns use. It strips what would
import the rest of the application: methods, properties, relationships, mixins,
and any argument naming something it does not keep. Every table is prefixed
(``ctfd_users``), so none clashes with the reference app's, and foreign keys are
rewritten to match. The header lists what was stripped and why.

    python tools/corpus_extract.py ctfd 3.7.0 --mirror mirrors/CTFd+CTFd/repo
    python tools/corpus_extract.py --all          # every preset, into tests/corpus/

The fixtures are not committed: they are the applications' code. The tests run
this script on the mirror instead, and the output is the same on every run.
"""

import argparse
import ast
import builtins
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The folder of the applications' repositories (bare, ``<owner>+<name>/repo``).
MIRRORS = Path(os.environ.get("CORPUS_MIRRORS", "mirrors"))

# Modules a fixture may import: SQLAlchemy and the standard library's value types.
KEPT_MODULES = {"sqlalchemy", "datetime", "enum", "uuid", "decimal", "typing", "json"}
# Calls whose assignment in a model's body is a column.
COLUMN_CALLS = {"Column", "mapped_column", "column_property", "deferred"}
# Class attributes that shape the table or the mapping.
TABLE_ATTRIBUTES = {"__tablename__", "__table_args__", "__mapper_args__"}


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


def last_name(node: ast.expr) -> str | None:
    """``Column`` for ``Column``, ``db.Column`` and ``sa.orm.Column``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def used_names(node: ast.AST) -> set[str]:
    """The names an expression reads (the root of each attribute chain)."""
    return {
        each.id
        for each in ast.walk(node)
        if isinstance(each, ast.Name) and isinstance(each.ctx, ast.Load)
    }


@dataclass
class Extraction:
    """What one extraction keeps, and the record of what it strips."""

    app: App
    imports: list[ast.stmt] = field(default_factory=list)
    body: list[ast.stmt] = field(default_factory=list)
    defined: set[str] = field(default_factory=lambda: set(dir(builtins)) | {"db"})
    models: set[str] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    substitutions: dict[str, ast.expr] = field(default_factory=dict)
    stripped: list[str] = field(default_factory=list)

    def strip(self, where: str, what: str) -> None:
        """Record a thing left out, and why."""
        self.stripped.append(f"{where}: {what}")


def model_bases(node: ast.ClassDef, extraction: Extraction) -> list[ast.expr]:
    """The bases of a model class that the fixture keeps: ``db.Model`` (or a base
    the application derives from it, which becomes ``db.Model``) and kept models."""
    kept = []
    for base in node.bases:
        name = last_name(base)
        if name == "Model" or name in extraction.models:
            kept.append(
                base if name != "Model" else ast.parse("db.Model").body[0].value
            )
        elif name == "BaseModel":  # Lemur's db.Model with a CRUD mixin
            kept.append(ast.parse("db.Model").body[0].value)
    return kept


def is_enum(node: ast.ClassDef) -> bool:
    """A Python enum, which an ``Enum`` column may name."""
    return any(last_name(base) in {"Enum", "IntEnum", "StrEnum"} for base in node.bases)


def type_decorator_impl(node: ast.ClassDef) -> ast.expr | None:
    """The ``impl`` of a ``TypeDecorator``, which stands for it in the fixture."""
    if not any(last_name(base) == "TypeDecorator" for base in node.bases):
        return None
    for statement in node.body:
        if isinstance(statement, ast.Assign) and [
            last_name(target) for target in statement.targets
        ] == ["impl"]:
            return statement.value
    return None


class Substitute(ast.NodeTransformer):
    """Replace a ``TypeDecorator`` by its ``impl`` and application bases."""

    def __init__(self, substitutions: dict[str, ast.expr]) -> None:
        self.substitutions = substitutions

    def visit_Name(self, node: ast.Name) -> ast.expr:
        """A substituted name becomes its replacement."""
        return self.substitutions.get(node.id, node)


def resolvable(node: ast.AST, defined: set[str]) -> set[str]:
    """The names ``node`` reads that the fixture does not define."""
    return used_names(node) - defined


def without_unknown_keywords(
    value: ast.expr, defined: set[str], where: str, extraction: Extraction
) -> ast.expr | None:
    """The call with each keyword argument that names something not kept removed
    (a ``default=`` callable of the application's), or None if a positional
    argument does."""
    if isinstance(value, ast.Dict):  # __mapper_args__: drop the entries alone
        for key, item in list(zip(value.keys, value.values, strict=True)):
            missing = resolvable(item, defined)
            if missing:
                value.keys.remove(key)
                value.values.remove(item)
                extraction.strip(
                    where, f"{ast.unparse(key)} (names {', '.join(sorted(missing))})"
                )
        return value
    if not isinstance(value, ast.Call):
        return None if resolvable(value, defined) else value
    for keyword in list(value.keywords):
        missing = resolvable(keyword.value, defined)
        if missing:
            value.keywords.remove(keyword)
            extraction.strip(
                where, f"{keyword.arg}= (names {', '.join(sorted(missing))})"
            )
    if any(resolvable(argument, defined) for argument in value.args) or resolvable(
        value.func, defined
    ):
        return None
    return value


def snake_case(name: str) -> str:
    """Flask-SQLAlchemy's automatic table name for a class name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def extract_model(node: ast.ClassDef, extraction: Extraction) -> ast.ClassDef:
    """The model class with its columns and table attributes only."""
    local = set(extraction.defined)
    body: list[ast.stmt] = []
    for statement in node.body:
        where = f"{node.name}"
        if isinstance(statement, ast.Expr) and isinstance(
            statement.value, ast.Constant
        ):
            continue  # the docstring
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "method"
            for decorator in statement.decorator_list:
                kind = last_name(decorator) or kind
            extraction.strip(where, f"{kind} {statement.name} (behaviour, not schema)")
            continue
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
            )
            names = [last_name(target) for target in targets]
            value = statement.value
            if value is None:
                continue
            call = last_name(value.func) if isinstance(value, ast.Call) else None
            if names[0] in TABLE_ATTRIBUTES or call in COLUMN_CALLS:
                value = without_unknown_keywords(
                    value, local, f"{where}.{names[0]}", extraction
                )
                if value is None:
                    extraction.strip(
                        f"{where}.{names[0]}", "names what the fixture does not keep"
                    )
                    continue
                if names[0] == "__tablename__" and isinstance(value, ast.Constant):
                    extraction.tables.add(value.value)
                body.append(
                    ast.Assign(targets=[ast.Name(names[0], ast.Store())], value=value)
                )
                local.update(name for name in names if name)
                continue
            extraction.strip(
                f"{where}.{names[0]}",
                f"{call or 'attribute'} (mapping behaviour or the app's objects)",
            )
            continue
        extraction.strip(where, f"{type(statement).__name__} statement")
    bases = model_bases(node, extraction)
    has_name = any(
        isinstance(each, ast.Assign) and each.targets[0].id == "__tablename__"
        for each in body
    )
    declares_key = any(
        "primary_key" in ast.unparse(each.value)
        for each in body
        if isinstance(each, ast.Assign)
    )
    inherits = any(last_name(base) in extraction.models for base in bases)
    if not has_name and (not inherits or declares_key):
        name = snake_case(node.name)
        extraction.tables.add(name)
        body.insert(
            0,
            ast.Assign(
                targets=[ast.Name("__tablename__", ast.Store())],
                value=ast.Constant(name),
            ),
        )
    return ast.ClassDef(
        name=node.name,
        bases=bases,
        keywords=[],
        body=body or [ast.Pass()],
        decorator_list=[],
    )


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


def substitute_into(self: Extraction, node: ast.AST) -> None:
    """Apply the TypeDecorator and base substitutions in place."""
    Substitute(self.substitutions).visit(node)


Extraction.substitute_into = substitute_into


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
