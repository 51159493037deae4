"""``python -m bench`` starts and refuses bad input. The benchmarks themselves never
run in the test suite (they time things; see bench/README.md), and the peers they
compare against need not be installed for these checks."""

import subprocess
import sys

from conftest import ROOT


def bench(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m bench <args>`` from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bench_help_names_its_options_and_an_unknown_database_is_refused():
    help_text = bench("--help")
    assert help_text.returncode == 0
    for option in ("--quick", "--databases", "--rows", "--sections"):
        assert option in help_text.stdout

    refused = bench("--databases", "sqlite,oracle")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "python -m bench: error: argument --databases: choose from sqlite, "
        "postgresql, mysql (got 'sqlite,oracle')"
    )
