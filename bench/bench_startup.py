"""Cold start: `warden --help`, and `warden extract` on a five-page notice, each in a fresh process.

    python bench/bench_startup.py [--runs 7]

Target: `warden --help` under 0.3 s. Prints each command's median wall time and peak RSS, and
the bare interpreter's start-up for scale.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import LAST_CPU, child_cpu, env, median, text_pdf, warden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        notice = Path(tmp) / "five-pages.pdf"
        notice.write_bytes(text_pdf(5))
        environ = env(Path(tmp) / "home")
        results = {}
        bare, bare_cpu = [], []
        for _ in range(args.runs):
            cpu0, started = child_cpu(), time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            bare.append(time.perf_counter() - started)
            bare_cpu.append(child_cpu() - cpu0)
        results["python -c pass"] = {
            "median_s": round(median(bare), 3),
            "median_cpu_s": round(median(bare_cpu), 3),
        }
        for label, argv in (
            ("warden --help", ["--help"]),
            ("warden extract (5-page PDF)", ["extract", str(notice), "--json"]),
        ):
            walls, cpus, peaks = [], [], []
            for _ in range(args.runs):
                wall, peak, _ = warden(argv, environ)
                walls.append(wall)
                cpus.append(LAST_CPU[0])
                peaks.append(peak)
            results[label] = {
                "median_s": round(median(walls), 3),
                "median_cpu_s": round(median(cpus), 3),
                "peak_rss_mb": round(median(peaks)),
            }
            wall, cpu, peak = median(walls), median(cpus), median(peaks)
            print(f"{label}: median {wall:.3f} s wall, {cpu:.3f} s CPU, peak RSS {peak:.0f} MB")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
