"""`warden --help` stays cheap: it must not import the heavy libraries the commands use.

This asserts which modules load, not how long they take (timings belong to bench/).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("rich", "langgraph", "langchain_core", "duckdb", "pypdf", "pydantic", "yaml", "bs4", "docx")

_PROBE = """
import json, sys
from warden.cli import app
try:
    app(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
"""


def test_help_imports_none_of_the_heavy_libraries() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "Commands" in done.stdout and "analyse" in done.stdout
    assert not loaded & set(HEAVY), f"--help imported {sorted(loaded & set(HEAVY))}"


def test_every_registered_command_module_is_listed_in_help() -> None:
    from warden.cli import COMMAND_MODULES

    done = subprocess.run(
        [sys.executable, "-m", "warden", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    for command in ("schema", "validate", "extract", "analyse", "resume", "review", "approve", "runs"):
        assert command in done.stdout
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))
