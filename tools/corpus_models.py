"""A real application's model class reduced to what makes its schema, for the
corpus fixture ``corpus_extract.py`` writes: columns and table attributes kept,
methods, properties, relationships and any argument naming something the fixture
does not keep stripped, each strip recorded with its reason in the ``Extraction``."""

import ast
import builtins
import re
from dataclasses import dataclass, field

from tools.corpus_apps import App

# Calls whose assignment in a model's body is a column.
COLUMN_CALLS = {"Column", "mapped_column", "column_property", "deferred"}
# Class attributes that shape the table or the mapping.
TABLE_ATTRIBUTES = {"__tablename__", "__table_args__", "__mapper_args__"}


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


class Substitute(ast.NodeTransformer):
    """Replace a ``TypeDecorator`` by its ``impl`` and application bases."""

    def __init__(self, substitutions: dict[str, ast.expr]) -> None:
        self.substitutions = substitutions

    def visit_Name(self, node: ast.Name) -> ast.expr:
        """A substituted name becomes its replacement."""
        return self.substitutions.get(node.id, node)


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

    def substitute_into(self, node: ast.AST) -> None:
        """Apply the TypeDecorator and base substitutions in place."""
        Substitute(self.substitutions).visit(node)


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
