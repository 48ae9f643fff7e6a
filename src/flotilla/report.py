"""Summary of a `make test` run: junit reports plus stage results, ending in `N passed, N failed`.

Each pytest run (unit tests, each scenario's testinfra checks) writes a junit XML file into the
report directory; each other check (yamllint, ruff, mypy, ansible-lint, each molecule scenario's
whole sequence) writes `<name>.stage` holding `passed` or `failed`.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        return self


def junit_counts(xml_text: str) -> Counts:
    counts = Counts()
    for case in ET.fromstring(xml_text).iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            counts.failed += 1
        elif "skipped" in tags:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


# The lines of a failure worth reading in a log's tail: the assertion, and Ansible's own verdicts.
_TELLING = re.compile(r"^\s*(fatal:|failed:|ERROR!|FAILED!|not |assert)|msg", re.I)


def junit_failures(xml_text: str, lines: int = 8) -> list[str]:
    """Each failed or errored case as `name: message`, with at most ``lines`` telling lines of its
    message (the first, then Ansible's fatal/failed lines), each cut at 300 characters: CI keeps
    only the end of a run's output, and a red run must say why there."""
    found = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        for child in case:
            if child.tag not in ("failure", "error"):
                continue
            text = (child.get("message") or child.text or "").strip().splitlines() or ["(no message)"]
            telling = [text[0]] + [line for line in text[1:] if _TELLING.search(line)]
            shown = [line.strip()[:300] for line in telling[:lines]]
            found.append(f"{case.get('name')}: " + "\n    ".join(shown))
    return found


def stage_counts(text: str) -> Counts:
    return Counts(passed=1) if text.strip() == "passed" else Counts(failed=1)


def summarize(report_dir: Path) -> tuple[list[str], Counts]:
    lines, total = [], Counts()
    for path in sorted(report_dir.glob("*.xml")):
        try:
            counts = junit_counts(path.read_text(encoding="utf-8"))
        except ET.ParseError:
            counts = Counts(failed=1)
        lines.append(f"  {path.stem:<24} {counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped")
        total += counts
    for path in sorted(report_dir.glob("*.stage")):
        counts = stage_counts(path.read_text(encoding="utf-8"))
        lines.append(f"  {path.stem:<24} {'passed' if counts.passed else 'FAILED'}")
        total += counts
    return lines, total


def _failures(path: Path) -> list[str]:
    try:
        return junit_failures(path.read_text(encoding="utf-8"))
    except ET.ParseError:
        return [f"{path.name} is not junit XML"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    report_dir = Path(args[0] if args else ".reports")
    lines, total = summarize(report_dir)
    failures = [f"  {path.stem}: {failure}" for path in sorted(report_dir.glob("*.xml")) for failure in _failures(path)]
    if failures:
        print("failed tests:")
        print("\n".join(failures))
    print("make test summary:")
    print("\n".join(lines) if lines else "  (no reports found)")
    skipped = f", {total.skipped} skipped" if total.skipped else ""
    print(f"{total.passed} passed, {total.failed} failed{skipped}")
    return 0 if lines and total.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
