"""``python -m bench``: run the benchmarks, print a Markdown table, write JSON.

See bench/README.md for what is measured and the latest figures.
"""

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.databases import BACKENDS, SERVER_URL_VARIABLES
from bench.report import machine, markdown, read_json, update_readme, write_json
from bench.timing import BenchError

SECTIONS = (
    "latency",
    "layers",
    "history",
    "suite",
    "data",
    "autogen",
    "trace",
    "deploy",
)
# The peers, imported only by the processes the benchmarks start.
PEERS = ("flask_migrate", "pytest_alembic")
RESULTS = Path(__file__).resolve().parent / "results.json"
README = RESULTS.with_name("README.md")


def comma_list(allowed: tuple[str, ...]):
    """An argparse type: a comma-separated list of names from ``allowed``."""

    def parse(value: str) -> list[str]:
        """Split and validate the list."""
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(allowed)} (got {value!r})"
            )
        return names

    return parse


def positive_ints(value: str) -> list[int]:
    """An argparse type: comma-separated positive integers."""
    try:
        numbers = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"not a list of positive integers: {value!r}")
    return numbers


def positive_int(value: str) -> int:
    """An argparse type: one positive integer."""
    [number] = positive_ints(value)
    return number


def default_databases() -> list[str]:
    """SQLite, and each server whose URL variable is set."""
    return ["sqlite"] + [
        name
        for name, variable in SERVER_URL_VARIABLES.items()
        if os.environ.get(variable)
    ]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` changes the defaults of the others."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark this project against Flask-Migrate, pytest-alembic "
        "and the floors. Servers come from TEST_POSTGRESQL_URL and TEST_MYSQL_URL.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer rounds and rows: a ~2 minute smoke run",
    )
    parser.add_argument(
        "--databases",
        type=comma_list(BACKENDS),
        default=default_databases(),
        help="comma-separated: sqlite,postgresql,mysql "
        "(default: sqlite and every server configured)",
    )
    parser.add_argument(
        "--sections",
        type=comma_list(SECTIONS),
        default=list(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        help="timed rounds per command after a warm-up round (default 7, quick 3)",
    )
    parser.add_argument(
        "--rows",
        type=positive_ints,
        help="users in the data step: the smaller is also the memory curve's first "
        "point (default 100000,1000000; quick 10000,50000)",
    )
    parser.add_argument(
        "--lengths",
        type=positive_ints,
        help="generated history lengths (default 5,50,500; quick 5,50)",
    )
    parser.add_argument(
        "--suite-length",
        type=positive_int,
        help="history length for the test-suite section (default 50, quick 10)",
    )
    parser.add_argument(
        "--data-rounds",
        type=positive_int,
        help="timed runs of each data-step strategy at the larger row count "
        "(default 2, quick 1)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also put the table in bench/README.md (for the recorded run)",
    )
    parser.add_argument(
        "--readme-from",
        type=Path,
        metavar="JSON",
        help="run nothing: put the figures of a results file in bench/README.md",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="the JSON file to write (default bench/results.json)",
    )
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    if arguments.repeats is None:
        arguments.repeats = 3 if quick else 7
    if arguments.rows is None:
        arguments.rows = [10_000, 50_000] if quick else [100_000, 1_000_000]
    if arguments.lengths is None:
        arguments.lengths = [5, 50] if quick else [5, 50, 500]
    if arguments.data_rounds is None:
        arguments.data_rounds = 1 if quick else 2
    if arguments.suite_length is None:
        arguments.suite_length = 10 if quick else 50
    return arguments


def run_sections(arguments: argparse.Namespace, workdir: Path) -> list:
    """Every selected section on every selected database, in that order."""
    from bench import autogen, datastep, deploy, latency, suite, trace
    from bench.projects import real_history

    rows = []
    for backend in arguments.databases:
        for section in arguments.sections:
            if section in ("layers", "trace") and backend != arguments.databases[0]:
                continue  # start-up layers barely depend on the database; the
                # trace runs on every configured database at once
            started = time.perf_counter()
            directory = workdir / backend / section
            directory.mkdir(parents=True)
            if section == "latency":
                rows += latency.no_op_and_check(backend, directory, arguments.repeats)
            elif section == "layers":
                rows += latency.breakdown(backend, directory, arguments.repeats)
            elif section == "history":
                rows += latency.long_histories(
                    backend, directory, arguments.lengths, arguments.repeats
                )
            elif section == "autogen":
                rows += autogen.big_schema(backend, directory, arguments.repeats)
            elif section == "trace":
                head = real_history()[-1]
                rows += trace.traced_review(directory, head, arguments.repeats)
            elif section == "deploy":
                rows += deploy.rolling_deploys(backend, directory, arguments.quick)
            elif section == "suite":
                rows += suite.migration_suites(
                    backend,
                    directory,
                    arguments.suite_length,
                    repeats=max(1, arguments.repeats // 2),
                )
            else:
                rows += datastep.data_step(
                    backend, directory, arguments.rows, arguments.data_rounds
                )
            elapsed = time.perf_counter() - started
            print(f"# {backend} {section}: {elapsed:.0f} s", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; a failure is one line on stderr and exit status 1."""
    arguments = parse_arguments(argv)
    if arguments.readme_from:
        try:
            update_readme(README, *read_json(arguments.readme_from))
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(
                f"bench: cannot read {arguments.readme_from}: {error}", file=sys.stderr
            )
            return 1
        return 0
    missing = [name for name in PEERS if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"bench: {', '.join(missing)} not installed; the peers come with the "
            'bench extra: pip install -e ".[bench]"',
            file=sys.stderr,
        )
        return 1
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="alembic-bench-") as workdir:
            rows = run_sections(arguments, Path(workdir))
    except (BenchError, ValueError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    info["duration_s"] = round(time.perf_counter() - started, 1)
    print(markdown(rows))
    if "deploy" in arguments.sections:
        from bench.deploy import summary

        print("\nRolling deploy, failed requests per step:\n\n" + summary(rows))
    write_json(arguments.output, command.strip(), info, rows)
    if arguments.readme:
        update_readme(README, command.strip(), info, rows)
    print(f"\n{len(rows)} figures written to {arguments.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
