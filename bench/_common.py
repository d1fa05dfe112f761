"""Shared by the bench scripts: medians, fresh `warden` processes, an auto-approving policy.

Figures are medians of several runs. On a shared machine wall time also counts time other
processes held the cores, so the scripts print CPU time alongside where it is meaningful.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from warden.testing import PEAK_RSS_PRELUDE, pdf_escape, simple_pdf, split_peak_rss

REPO = Path(__file__).resolve().parents[1]
ACME = REPO / "fixtures" / "acme"

LAST_CPU = [0.0]


def missing_counts(
    gold_docs: dict[str, set[str]], pred_docs: dict[str, set[str]], items: list[str]
) -> tuple[int, int, int]:
    """Document-level missing items as the shared scorer counts them: (correct "missing", false
    "missing", false "present") over every policy and item."""
    mt = mf = mn = 0
    for pol in gold_docs:
        for c in items:
            gm, pm = c not in gold_docs[pol], c not in pred_docs[pol]
            mt += gm and pm
            mf += pm and not gm
            mn += gm and not pm
    return mt, mf, mn


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def env(home: Path | None = None, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    if home is not None:
        out["WARDEN_HOME"] = str(home)
    out.update(NO_COLOR="1", COLUMNS="200", **extra)
    return out


def child_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def warden(args: list[str], environ: dict[str, str], *, check: bool = True) -> tuple[float, float, str]:
    """Run `warden ARGS` in a fresh process: (wall s, peak RSS MB, stdout). The process's CPU
    time is in `LAST_CPU[0]` (less disturbed than wall time by other load on the machine)."""
    cpu0, started = child_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_PRELUDE, *args], env=environ, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    LAST_CPU[0] = child_cpu() - cpu0
    err, peak_mb = split_peak_rss(done.stderr)
    if check and done.returncode != 0:
        raise SystemExit(f"warden {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{err}")
    return wall, float("nan") if peak_mb is None else peak_mb, done.stdout


def auto_policy(path: Path) -> Path:
    """The acme policy with absolute paths and an auto-approval rule for everything acme may
    run, so one `warden analyse` goes from plan to findings without a human. Acme's documents
    may also come from the folder the policy is written to."""
    data: dict[str, Any] = yaml.safe_load((ACME / "policy.yaml").read_text())
    acme = data["tenants"]["acme"]
    acme["allowed_roots"] = [str(ACME / r) for r in acme["allowed_roots"]]
    acme["systems"] = [{**s, "location": str(ACME / s["location"])} for s in acme["systems"]]
    # the fixtures, and the documents a bench writes beside the policy
    acme["document_roots"] = [str((ACME / r).resolve()) for r in acme["document_roots"]] + [str(path.parent)]
    globex = data["tenants"]["globex"]
    globex["allowed_roots"] = [str((ACME / r).resolve()) for r in globex["allowed_roots"]]
    globex["document_roots"] = [str((ACME / r).resolve()) for r in globex["document_roots"]]
    for system in globex["systems"]:
        system["location"] = str((ACME / system["location"]).resolve())
    acme["approval"]["auto_approve"] = [
        {"name": "bench", "analysers": list(acme["analysers"]), "max_cost_usd": 5.0, "max_depth": 3}
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def text_pdf(pages: int, paragraphs_per_page: int = 6) -> bytes:
    """A text PDF of `pages` notice-like pages (headings and paragraphs), built in memory."""
    sentences = [
        "We collect your name, email address and phone number when you create an account.",
        "We use this information to provide the service and to meet our legal obligations.",
        "We share your data with service providers who host the service on our behalf.",
        "We keep your personal data for six years after your account closes.",
        "You have the right to access, correct or erase your personal data.",
        "Contact our data protection officer at dpo@example.org with any questions.",
    ]
    streams = []
    for page in range(pages):
        lines = [b"BT /F1 16 Tf 72 780 Td (Section %d) Tj ET" % (page + 1)]
        for n in range(paragraphs_per_page):
            text = pdf_escape(sentences[(page + n) % len(sentences)])
            lines.append(b"BT /F1 10 Tf 72 %d Td (%s) Tj ET" % (740 - 40 * n, text))
        lines.append(b"BT /F1 8 Tf 300 40 Td (%d) Tj ET" % (page + 1))
        streams.append(b"\n".join(lines))
    return simple_pdf(streams)
