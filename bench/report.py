"""The benchmark's figures: rows of a Markdown table, and the JSON file."""

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path


@dataclass
class Row:
    """One figure: ours against a peer or a floor, with the issue's target."""

    section: str
    database: str
    measure: str
    ours: float
    versus: str = ""
    theirs: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    unit: str = "s"
    note: str = ""


def checked(ratio: float, limit: float) -> tuple[str, bool]:
    """The target text and whether ``ratio`` is at most ``limit``."""
    return f"<= {limit:g}x", ratio <= limit


def shown(value: float | None, unit: str) -> str:
    """A figure in the table: seconds to 3 significant digits, MB and ms plainly,
    counts of requests as whole numbers."""
    if value is None:
        return ""
    if unit == "s":
        return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"
    if unit == "requests":
        return f"{value:.0f}"
    return f"{value:.1f} {unit}"


def markdown(rows: list[Row]) -> str:
    """The rows as one Markdown table, in the order they were measured."""
    lines = [
        "| section | database | measure | ours | versus | theirs | ratio | target "
        "| met |",
        "|---|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.section} | {row.database} | {row.measure}{note} "
            f"| {shown(row.ours, row.unit)} | {row.versus} "
            f"| {shown(row.theirs, row.unit)} | {ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    """What the figures were measured on."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_at_start": load,
        "python": platform.python_version(),
        "packages": {
            name: metadata.version(name)
            for name in (
                "sqlalchemy",
                "alembic",
                "flask",
                "flask-sqlalchemy",
                "flask-migrate",
                "pytest-alembic",
                "psycopg",
                "pymysql",
            )
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }


def write_json(path: Path, command: str, info: dict, rows: list[Row]) -> None:
    """Write the figures, the machine and the command to a JSON file."""
    document = {"command": command, "machine": info, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")


RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


def machine_line(info: dict) -> str:
    """The machine and versions, as one Markdown paragraph."""
    packages = ", ".join(f"{name} {v}" for name, v in info["packages"].items())
    load = " / ".join(info["load_average_at_start"])
    return (
        f"Measured on {info['cpus']} CPUs ({info['cpu_model']}), load average "
        f"{load} at the start (1/5/15 min), Python {info['python']}, {packages}; "
        f"commit {info['commit']}, run took {info['duration_s']:.0f} s."
    )


def targets_markdown(rows: list[Row]) -> str:
    """The figures that have a target, one line per figure, one column per database."""
    databases = list(dict.fromkeys(row.database for row in rows))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    targets: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in rows:
        if not row.target:
            continue
        figure = (
            f"{row.ratio:.2f}x" if row.ratio is not None else shown(row.ours, row.unit)
        )
        label = (
            row.measure if " vs " in row.measure else f"{row.measure} vs {row.versus}"
        )
        key = (row.section, label)
        verdict = {True: " met", False: " **not met**", None: ""}[row.met]
        cells.setdefault(key, {})[row.database] = figure + verdict
        if row.met is not None:
            targets.setdefault(key, {}).setdefault(row.target, []).append(row.database)
    lines = [
        "| section | figure | target | " + " | ".join(databases) + " |",
        "|---|---|---|" + "---|" * len(databases),
    ]
    for key, by_database in cells.items():
        by_target = targets.get(key, {})
        target = "; ".join(
            text
            if len(by_target) == 1 and len(where) > 1
            else f"{text} ({', '.join(where)})"
            for text, where in by_target.items()
        )
        values = " | ".join(by_database.get(database, "") for database in databases)
        lines.append(f"| {key[0]} | {key[1]} | {target} | {values} |")
    return "\n".join(lines)


def read_json(path: Path) -> tuple[str, dict, list[Row]]:
    """The command, machine and rows of a JSON file written by ``write_json``."""
    document = json.loads(path.read_text())
    rows = [Row(**row) for row in document["rows"]]
    return document["command"], document["machine"], rows


def update_readme(path: Path, command: str, info: dict, rows: list[Row]) -> None:
    """Replace the results block of bench/README.md with this run's tables."""
    text = path.read_text()
    start, end = text.index(RESULTS_START), text.index(RESULTS_END)
    block = (
        f"{RESULTS_START}\n`{command}`\n\n{machine_line(info)}\n\n"
        f"Targets at a glance:\n\n{targets_markdown(rows)}\n\n"
        f"Every figure:\n\n{markdown(rows)}\n{RESULTS_END}"
    )
    path.write_text(text[:start] + block + text[end + len(RESULTS_END) :])
