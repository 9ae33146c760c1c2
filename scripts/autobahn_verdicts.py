#!/usr/bin/env python3
"""Tally the verdicts in kosoku's JSON case reports.

Usage: autobahn_verdicts.py DIR [DIR ...] [--markdown FILE] [--expect N]

Prints one line per case that is not OK, a summary per verdict, and exits non-zero
when any case FAILED (or has no verdict), when no report was found at all, or when
fewer than N cases have a report.
NON-STRICT and INFORMATIONAL are allowed: docs/conformance.md explains each.
"""
import json
import pathlib
import sys
from collections import Counter

ALLOWED = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def main(argv):
    markdown = None
    if "--markdown" in argv:
        i = argv.index("--markdown")
        markdown = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    expected = 0
    if "--expect" in argv:
        i = argv.index("--expect")
        expected = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    reports = []
    for directory in argv:
        for path in sorted(pathlib.Path(directory).glob("*.json")):
            try:
                report = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(report, dict) and "id" in report and "behavior" in report:
                reports.append(report)
    if not reports:
        print("no kosoku case reports found in", " ".join(argv))
        return 1
    reports.sort(key=lambda r: case_key(r["id"]))
    tally = Counter()
    bad = 0
    rows = []
    for report in reports:
        verdict = report.get("behavior")
        close = report.get("behaviorClose")
        worst = verdict if verdict != "OK" else close
        tally[worst] += 1
        if worst != "OK":
            print(f"{report['id']:>10}  behavior={verdict} behaviorClose={close}  {report.get('description', '')[:80]}")
        if verdict not in ALLOWED or close not in ALLOWED:
            bad += 1
        rows.append((report["id"], verdict, close))
    summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(tally.items()))
    print(f"{len(reports)} cases: {summary}")
    if markdown:
        groups = Counter()
        for case_id, verdict, close in rows:
            groups[(case_id.split(".")[0], verdict, close)] += 1
        lines = ["| group | behavior | behaviorClose | cases |", "|---|---|---|---|"]
        for (group, verdict, close), count in sorted(groups.items(), key=lambda g: (int(g[0][0]), g[0][1], g[0][2])):
            lines.append(f"| {group}.* | {verdict} | {close} | {count} |")
        pathlib.Path(markdown).write_text("\n".join(lines) + "\n")
    print(f"{len(reports) - bad} passed, {bad} failed")
    if len(reports) < expected:
        print(f"only {len(reports)} of the {expected} cases have a report")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
