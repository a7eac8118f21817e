"""Reliability and security report: `python -m benchmarks.reliability [-k EXPR]`.

Runs the reliability tests (`pytest tests/reliability`: hostile inputs against the real app, checkpoints,
data, training crashes, load) and prints one row per case (outcome, seconds), then writes them with the
machine and the command to benchmarks/reliability.json. The cases live in the tests, not here, so the report
and CI can never disagree. Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cases(junit: Path) -> list[dict[str, object]]:
    """One dict per test case of a JUnit XML report: name, outcome (passed / failed / skipped / xfail), seconds."""
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "xfail" if child.get("type") == "pytest.xfail" else "skipped"
        rows.append({"case": f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}",
                     "outcome": outcome, "seconds": round(float(case.get("time", 0)), 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0])
    p.add_argument("-k", dest="select", help="pytest -k expression: run only matching cases")
    p.add_argument("--json", default=str(Path(__file__).with_name("reliability.json")), help="output JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gald_reliability_") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "tests/reliability", f"--junitxml={junit}",
               "-p", "no:cacheprovider"]
        if args.select:
            cmd += ["-k", args.select]
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT).returncode
        rows = cases(junit) if junit.is_file() else []
    width = max((len(r["case"]) for r in rows), default=10)
    print(f"\n{'case'.ljust(width)}  outcome   seconds")
    for r in rows:
        print(f"{r['case'].ljust(width)}  {r['outcome']:<8}  {r['seconds']:>7.2f}")
    counts = {o: sum(r["outcome"] == o for r in rows) for o in ("passed", "failed", "xfail", "skipped")}
    print(f"\n{len(rows)} cases: " + ", ".join(f"{n} {o}" for o, n in counts.items()))
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": "python -m benchmarks.reliability",
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": len(os.sched_getaffinity(0))},
              "seconds": round(time.perf_counter() - t0, 1), "counts": counts, "cases": rows}
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
