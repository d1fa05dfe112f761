"""Peak memory of a notice near the passage cap, through `analyse` and `approve`.

    python bench/bench_passage_cap.py [--passages 4990 9990] [--runs 1]

Writes a Markdown notice of N paragraphs of ~1,450 characters (just under a passage's longest,
``MAX_CHARS``), cut from the Acme fixture notice, so each paragraph is one passage. Then runs
`warden analyse NOTICE --tenant acme --as ana@acme` and `warden approve RUN --as dora@acme
--role dpo` in fresh processes and prints each one's wall time and peak RSS. The figures behind
``MAX_PASSAGES`` (warden/documents/passages.py) and docs/RELIABILITY.md come from this script; a
count over the cap shows the `document_too_complex` refusal instead.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

import yaml
from _common import ACME, auto_policy, env, median, warden

PARAGRAPH_CHARS = 1450


def notice(passages: int) -> str:
    """`passages` paragraphs of ~1,450 characters of the Acme notice's prose, each distinct."""
    words = re.sub(r"[#*|`>-]", " ", (ACME / "notice.md").read_text()).split()
    paragraphs, start = [], 0
    for number in range(passages):
        chosen: list[str] = [f"Section {number}."]
        while sum(len(w) + 1 for w in chosen) < PARAGRAPH_CHARS:
            chosen.append(words[start % len(words)])
            start += 1
        paragraphs.append(" ".join(chosen)[:PARAGRAPH_CHARS].rsplit(" ", 1)[0] + ".")
    return "# Privacy notice\n\n" + "\n\n".join(paragraphs) + "\n"


def manual_policy(path: Path) -> Path:
    """The bench's Acme policy with absolute paths, without auto-approval: `approve` is measured."""
    auto_policy(path)
    data = yaml.safe_load(path.read_text())
    data["tenants"]["acme"]["approval"].pop("auto_approve", None)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, nargs="+", default=[4990, 9990])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, dict[str, float | str]] = {}
    for count in args.passages:
        peaks: dict[str, list[float]] = {"analyse": [], "approve": []}
        walls: dict[str, list[float]] = {"analyse": [], "approve": []}
        outcome = ""
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                policy = manual_policy(Path(tmp) / "policy.yaml")
                document = Path(tmp) / f"notice-{count}.md"
                document.write_text(notice(count))
                environ = env(Path(tmp) / "home", WARDEN_POLICY=str(policy))
                argv = ["analyse", str(document), "--tenant", "acme", "--as", "ana@acme", "--json"]
                wall, peak, out = warden(argv, environ, check=False)
                walls["analyse"].append(wall)
                peaks["analyse"].append(peak)
                lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
                if not lines:
                    outcome = "refused (see `warden analyse` output)"
                    continue
                run = lines[0]
                outcome = run.get("status", "?")
                if outcome != "waiting_approval":  # over the cap: refused, nothing to approve
                    continue
                run_id = run["run_id"]
                wall, peak, _ = warden(["approve", run_id, "--as", "dora@acme", "--role", "dpo"], environ)
                walls["approve"].append(wall)
                peaks["approve"].append(peak)
        row: dict[str, float | str] = {"analyse_status": outcome}
        for stage in ("analyse", "approve"):
            if peaks[stage]:
                row[f"{stage}_peak_rss_mb"] = round(median(peaks[stage]))
                row[f"{stage}_wall_s"] = round(median(walls[stage]), 2)
        results[str(count)] = row
        print(f"{count} passages: {row}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
