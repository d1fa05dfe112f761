"""A long-lived service freezes the heap its first analysis warmed (``gc.freeze``), once per
process; a one-shot service leaves the garbage collector alone. Each case runs in a fresh
process: a freeze is process-wide and would reach the other tests of this one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACME = REPO / "fixtures" / "acme"

_ANALYSE = (
    "import gc, sys\n"
    "from warden.service import Service\n"
    "svc = Service(sys.argv[1], policy=sys.argv[2])\n"
    "if sys.argv[4] == 'long': svc.long_lived()\n"
    "ana = svc.principal('ana@acme', 'asserted', writing=True)\n"
    "counts = []\n"
    "for _ in range(2):\n"
    "    svc.start(ana, sys.argv[3], tenant='acme')\n"
    "    counts.append(gc.get_freeze_count())\n"
    "print(counts[0], counts[1] - counts[0])\n"
)


@pytest.mark.parametrize("kind", ["long", "one-shot"])
def test_only_a_long_lived_service_freezes_its_warm_heap_and_only_once(tmp_path: Path, kind: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _ANALYSE,
            str(tmp_path / "home"),
            str(ACME / "policy.yaml"),
            str(ACME / "notice.md"),
            kind,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    frozen, added = (int(n) for n in out.stdout.split())
    if kind == "long":
        assert frozen > 10_000  # the imports, compiled graphs and schemas of a warm process
    else:
        assert frozen == 0
    assert added <= 0  # the second analysis freezes nothing more (frozen objects may still be freed)
    assert "leaked" not in out.stderr  # unfrozen at exit: everything is still freed
