"""Storage faults x every command that touches the state directory: coded errors, nothing lost.

Faults: a corrupt, truncated, empty or missing ``warden.duckdb``, a directory in its place, a
corrupt or truncated ``checkpoints.sqlite``, a read-only state directory and a full disk. Every
command runs as a real ``python -m warden`` process against a copy of one prepared state
directory (one completed run tree, one run waiting for approval). Each case asserts: never exit
70, a failure names its specific code (never ``internal error``), and the faulty file's bytes are
unchanged afterwards.

Read-only: a bind mount remounted ``ro`` (we run as root, and root ignores file modes).
Full disk: a small tmpfs mounted as the state directory's parent, filled with a filler file
until writes fail with ENOSPC. Both need mount(2); without it those cases are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from _reliability import auto_policy
from _wardencli import ACME_NOTICE, Warden, acme_policy_data, write_yaml

COMMANDS: tuple[str, ...] = (
    "analyse",
    "review",
    "approve",
    "reject",
    "resume",
    "runs",
    "findings",
    "tree",
    "report",
    "audit",
    "audit-verify",
    "replay",
    "cancel",
    "policy-show",
    "triage",
    "diff",
    "ropa",
)
"""Every command that touches the state directory; add a new one here and to `_args`."""

FAULTS: tuple[str, ...] = (
    "corrupt_duckdb",
    "truncated_duckdb",
    "empty_duckdb",
    "duckdb_is_directory",
    "missing_duckdb",
    "corrupt_checkpoint",
    "truncated_checkpoint",
    "read_only_state",
    "full_disk",
)

DB, CP = "warden.duckdb", "checkpoints.sqlite"

EXPECTED: dict[str, set[str]] = {
    "corrupt_duckdb": {"store_corrupt"},
    "truncated_duckdb": {"store_corrupt"},
    "empty_duckdb": {"store_corrupt"},
    "duckdb_is_directory": {"store_not_a_file"},
    "missing_duckdb": {"no_store"},
    "corrupt_checkpoint": {"checkpoint_corrupt"},
    "truncated_checkpoint": {"checkpoint_corrupt"},
    "read_only_state": {"store_read_only", "checkpoint_read_only"},
    "full_disk": {"disk_full"},
}
"""The codes a failing command may give under each fault."""

# Commands that must fail under a fault (the others may succeed: they never touch that file).
# (replay works on a copy of the store in a scratch directory with a checkpoint file of its own)
_CHECKPOINT_COMMANDS = {"analyse", "review", "approve", "reject", "resume", "cancel"}
MUST_FAIL: dict[str, set[str]] = {
    "corrupt_duckdb": set(COMMANDS),
    # the policy tables may lie wholly in the surviving half: `policy show` can still read them
    "truncated_duckdb": set(COMMANDS) - {"policy-show"},
    "empty_duckdb": set(COMMANDS),
    "duckdb_is_directory": set(COMMANDS),
    "missing_duckdb": set(COMMANDS) - {"analyse"},
    "corrupt_checkpoint": _CHECKPOINT_COMMANDS,
    "truncated_checkpoint": _CHECKPOINT_COMMANDS,
    "read_only_state": {"analyse", "approve", "reject", "triage"},
    "full_disk": {"analyse", "approve", "reject", "triage"},
}

# The files whose bytes a fault case must leave unchanged.
GUARDED: dict[str, tuple[str, ...]] = {
    "corrupt_duckdb": (DB, CP),
    "truncated_duckdb": (DB, CP),
    "empty_duckdb": (DB, CP),
    "duckdb_is_directory": (CP,),
    "missing_duckdb": (CP,),
    "corrupt_checkpoint": (CP, DB),
    "truncated_checkpoint": (CP, DB),
    "read_only_state": (DB, CP),
    "full_disk": (DB, CP),
}

_CODE = re.compile(r"error \(([a-z_]+)\)")
TIMEOUT_S = 180
WORKERS = 3
"""Cases run at once (each a `python -m warden` process on its own copy)."""


@dataclass(frozen=True)
class Prepared:
    home: Path
    policy: Path
    completed: str
    waiting: str


def _args(command: str, p: Prepared) -> list[str]:
    ana, dora = ["--as", "ana@acme"], ["--as", "dora@acme"]
    return {
        "analyse": ["analyse", str(ACME_NOTICE), "--tenant", "acme", *ana, "--json"],
        "review": ["review", p.waiting, *dora, "--json"],
        "approve": ["approve", p.waiting, *dora, "--role", "dpo"],
        "reject": ["reject", p.waiting, *dora, "--role", "dpo", "--reason", "fault matrix"],
        "resume": ["resume", p.waiting, *ana, "--json"],
        "runs": ["runs", *ana, "--json"],
        "findings": ["findings", p.completed, *ana, "--json"],
        "tree": ["tree", p.completed, *ana, "--json"],
        "report": ["report", p.completed, *ana, "--format", "json"],
        "audit": ["audit", p.completed, *ana],
        "audit-verify": ["audit", "verify", p.completed, *ana],
        "replay": ["replay", p.completed, "--json", *ana],
        "cancel": ["cancel", p.waiting, *ana, "--reason", "fault matrix"],
        "policy-show": ["policy", "show", *ana, "--json"],
        "triage": [
            "triage",
            _retention_gap(),
            "--run",
            p.completed,
            "--mark",
            "fixed",
            "--reason",
            "f",
            *dora,
        ],
        "diff": ["diff", p.completed, p.completed, *ana, "--json"],
        "ropa": ["ropa", p.completed, *ana, "--format", "json"],
    }[command]


def _retention_gap() -> str:
    """The acme notice's missing-retention finding: a triage that writes when nothing is wrong."""
    from warden_analysers.gdpr_transparency.analyser import finding_id

    return finding_id(hashlib.sha256(ACME_NOTICE.read_bytes()).hexdigest(), "retention")


def _env(home: Path, policy: Path) -> dict[str, str]:
    env = Warden(home=home).env()
    env["WARDEN_POLICY"] = str(policy)
    return env


def _run(home: Path, policy: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warden", *args],
        env=_env(home, policy),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """One state directory with a completed run tree and a run waiting for approval."""
    base = tmp_path_factory.mktemp("store-faults")
    policy = write_yaml(base / "policy.yaml", acme_policy_data())
    w = Warden(home=base / "state", policy=policy)
    (first,) = w.analyse()
    root = first["run_id"]
    w.approve(root)
    w.approve(f"{root}.checks")
    assert w.run_row(root)["status"] == "completed"
    (second,) = w.analyse()
    assert second["status"] == "waiting_approval", second
    for leftover in (f"{CP}-wal", f"{CP}-shm", f"{DB}.wal", "policy-path"):
        (w.home / leftover).unlink(missing_ok=True)
    return Prepared(w.home, policy, root, second["run_id"])


def _noise(n: int) -> bytes:
    return hashlib.shake_256(b"warden fault matrix").digest(n)


def _damage(home: Path, fault: str) -> None:
    """Apply a file-level fault to a copy of the prepared state directory."""
    db, cp = home / DB, home / CP
    if fault == "corrupt_duckdb":  # header intact, every block after it noise
        data = db.read_bytes()
        db.write_bytes(data[:12288] + _noise(len(data) - 12288))
    elif fault == "truncated_duckdb":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2])
    elif fault == "empty_duckdb":
        db.write_bytes(b"")
    elif fault == "duckdb_is_directory":
        db.unlink()
        db.mkdir()
    elif fault == "missing_duckdb":
        db.unlink()
    elif fault == "corrupt_checkpoint":  # the SQLite header's first 100 bytes kept, page 1 noise
        data = cp.read_bytes()
        cp.write_bytes(data[:100] + _noise(8092) + data[8192:])
    elif fault == "truncated_checkpoint":
        data = cp.read_bytes()
        cp.write_bytes(data[: len(data) // 3])


def _fingerprint(home: Path, names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in names:
        path = home / name
        if path.is_dir():
            found[name] = "dir:" + ",".join(sorted(os.listdir(path)))
        elif path.exists():
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[name] = "missing"
    return found


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


@pytest.fixture(scope="module")
def mounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path | str]]:
    """A directory to bind read-only and a small tmpfs to fill; a reason string when not possible."""
    base = tmp_path_factory.mktemp("store-fault-mounts")
    made: list[Path] = []
    found: dict[str, Path | str] = {}
    tmpfs = base / "tmpfs"
    tmpfs.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=48m", "tmpfs", str(tmpfs))
        made.append(tmpfs)
        found["tmpfs"] = tmpfs
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        found["tmpfs"] = f"cannot mount a tmpfs here ({exc}); the full-disk case needs one"
    found["ro"] = base / "ro"
    try:
        yield found
    finally:
        for target in reversed(made):
            _umount(target)


def _fill(folder: Path) -> None:
    """Write zeros into `folder` until the file system has no byte left."""
    chunk = b"\0" * (1 << 16)
    with (folder / "filler").open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass
        try:
            while True:
                out.write(b"\0")
        except OSError:
            pass


@dataclass
class Case:
    """One command under one fault: its exit, output, and the guarded files before and after."""

    code: int = 0
    out: str = ""
    err: str = ""
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None
    skipped: str | None = None


@contextmanager
def faulted(fault: str, prepared: Prepared, where: Path) -> Iterator[Path]:
    """A copy of the prepared state directory with `fault` applied; mounts undone afterwards."""
    if fault == "full_disk":  # a tmpfs just big enough for the copy, then filled to the last byte
        where.mkdir()
        size_mb = sum(f.stat().st_size for f in prepared.home.iterdir()) // (1 << 20) + 4
        _mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where))
        try:
            home = where / "state"
            shutil.copytree(prepared.home, home)
            _fill(where)
            yield home
        finally:
            _umount(where)
        return
    home = where / "state"
    shutil.copytree(prepared.home, home)
    _damage(home, fault)
    if fault != "read_only_state":
        yield home
        return
    _mount("--bind", str(home), str(home))  # root ignores file modes: a read-only bind mount
    try:
        _mount("-o", "remount,ro,bind", str(home))
        yield home
    finally:
        _umount(home)


def _one_case(fault: str, command: str, prepared: Prepared, where: Path) -> Case:
    try:
        with faulted(fault, prepared, where) as home:
            before = _fingerprint(home, GUARDED[fault])
            done = _run(home, prepared.policy, _args(command, prepared))
            after = _fingerprint(home, GUARDED[fault])
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:  # no mount(2) here
        what = "a tmpfs (full disk)" if fault == "full_disk" else "a read-only bind mount"
        return Case(skipped=f"cannot mount {what} here: {exc}")
    return Case(done.returncode, done.stdout, done.stderr, before, after)


@pytest.fixture(scope="module")
def matrix(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Case]:
    """Every fault x command, WORKERS processes at a time (each case on its own copy)."""
    base = tmp_path_factory.mktemp("store-fault-cases")
    cases = [(fault, command) for fault in FAULTS for command in COMMANDS]
    with ThreadPoolExecutor(WORKERS) as pool:
        done = pool.map(lambda fc: _one_case(*fc, prepared, base / f"{fc[0]}-{fc[1]}"), cases)
        return dict(zip(cases, done, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_storage_fault_gives_its_code_and_loses_nothing(
    fault: str, command: str, matrix: dict[tuple[str, str], Case], figures
) -> None:
    case = matrix[(fault, command)]
    if case.skipped:
        pytest.skip(case.skipped)
    codes = _CODE.findall(case.err)
    shown = f"warden {command} under {fault} -> {case.code}\nstdout:\n{case.out}\nstderr:\n{case.err}"
    figures.add(exit=case.code, code=codes[0] if codes else None)
    assert case.code != 70, shown
    assert "internal error" not in case.err, shown
    if command in MUST_FAIL[fault]:
        assert case.code != 0, shown
    if case.code != 0:
        assert codes and codes[0] in EXPECTED[fault], shown
        assert case.before == case.after, f"{shown}\nchanged: {case.before} -> {case.after}"


def test_a_run_stopped_by_a_full_disk_resumes_once_there_is_room(
    prepared: Prepared, mounts: dict[str, Path | str], tmp_path: Path, figures
) -> None:
    """An auto-approved tree analysed with little room left fails with `disk_full`, its reason
    says `warden resume` retries it, and resume completes it once room is made."""
    tmpfs = mounts["tmpfs"]
    if isinstance(tmpfs, str):
        pytest.skip(tmpfs)
    policy = write_yaml(tmp_path / "auto.yaml", auto_policy())
    reference = Warden(home=tmp_path / "reference", policy=policy)
    (ref,) = reference.analyse()
    assert ref["status"] == "completed", ref
    tried = []
    for room_kb in (600, 300, 150):
        home = tmpfs / f"room-{room_kb}"
        shutil.copytree(prepared.home, home)
        w = Warden(home=home, policy=None)
        w.run("policy", "apply", str(policy), "--as", "adam@acme", "--reason", "auto-approving policy")
        w = Warden(home=home, policy=policy)
        ballast = tmpfs / "ballast"
        _fill(tmpfs)
        (tmpfs / "filler").rename(ballast)
        os.truncate(ballast, max(0, ballast.stat().st_size - room_kb * 1024))
        try:
            done = w.run(*_analyse_args(), ok=None)
            assert done.code != 70, str(done)
            roots = [
                r["run_id"]
                for r in w.query(
                    "SELECT run_id FROM runs WHERE parent_run_id IS NULL AND run_id NOT IN (?, ?)",
                    prepared.completed,
                    prepared.waiting,
                )
            ]
        finally:
            ballast.unlink()
        tried.append((room_kb, done.code, _CODE.findall(done.err)[:1]))
        if done.code == 0 or not roots:
            assert done.code == 0 or _CODE.findall(done.err)[0] == "disk_full", str(done)
            shutil.rmtree(home)
            continue
        assert _CODE.findall(done.err)[0] == "disk_full", str(done)
        (root,) = roots
        reason = w.run_row(root)["status_reason"] or ""
        assert w.run_row(root)["status"] in ("failed", "running"), reason
        if w.run_row(root)["status"] == "failed":
            assert "disk_full" in reason and f"warden resume {root}" in reason, reason
        resumed = w.run("resume", root, "--as", "ana@acme", "--json")
        assert json.loads(resumed.out)["status"] == "completed", str(resumed)
        mine = sorted((f["step_id"], f["code"]) for f in w.findings(root))
        theirs = sorted((f["step_id"], f["code"]) for f in reference.findings(ref["run_id"]))
        assert mine == theirs
        shutil.rmtree(home)
    figures.add(tried=tried)
    assert any(code == 1 for _, code, _ in tried), f"no room size made the analysis fail: {tried}"


def _analyse_args() -> tuple[str, ...]:
    return ("analyse", str(ACME_NOTICE), "--tenant", "acme", "--as", "ana@acme", "--json")
