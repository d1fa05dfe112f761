"""The structure the code promises: layers point one way, and only `store/` speaks SQL.

Entry points (cli, later the server and workers) -> service -> graph -> store; the domain
packages below (schemas, documents, guard, runbooks, governance) import none of them.
import-linter checks the contracts in pyproject.toml; the SQL rule is checked here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "warden"

SQL = re.compile(
    r"""(?x)
    \b(?:SELECT\s+[\w*(]|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+(?:TABLE|INDEX|SEQUENCE)|ALTER\s+TABLE|
       DROP\s+(?:TABLE|INDEX)|PRAGMA\s+\w)
    | \bUPDATE\s+\w+\s+SET\b
    | \.execute(?:many)?\(
    """
)
"""What SQL, or handing a statement to a driver, looks like in Python source."""


def sql_outside_store(root: Path) -> list[str]:
    """`file:line` of every line under `root` (but not `root/store`) that looks like SQL."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "store") in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL.search(line):
                found.append(f"{path.relative_to(root.parent)}:{number}: {line.strip()}")
    return found


def test_only_the_store_speaks_sql() -> None:
    assert sql_outside_store(SRC) == []


def test_the_sql_rule_sees_sql_where_it_should(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "ok.py").write_text('con.execute("SELECT 1")\n')
    (tmp_path / "graph.py").write_text('x = 1\ncon.execute("UPDATE runs SET status = ?")\n')
    (tmp_path / "cli.py").write_text('"""Select the runs you want."""\nq = "SELECT run_id FROM runs"\n')
    assert [f.split(": ")[0] for f in sql_outside_store(tmp_path)] == [
        f"{tmp_path.name}/cli.py:2",
        f"{tmp_path.name}/graph.py:2",
    ]


def test_layers_point_one_way() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([lint], capture_output=True, text=True, timeout=300, cwd=SRC.parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
