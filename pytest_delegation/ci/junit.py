"""The jobs' junit XML files as one, for CI systems that show a run's tests from one file.

Every ``<testsuite>`` of every file goes under one ``<testsuites>`` root whose counts are
the sums; nothing inside a suite is touched, so each test keeps its job's details.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import xml.etree.ElementTree as ET

from pytest_delegation.ci.reports import ReportError
from pytest_delegation.report.files import write_atomic


#: the root's sums, and how a suite without the attribute is counted from its test cases
COUNTS = {
    "tests": ".//testcase",
    "failures": ".//failure",
    "errors": ".//error",
    "skipped": ".//skipped",
}


def merge_junit(files: Sequence[Path], dest: Path, *, skipped: list[Path] | None = None) -> int:
    """Write `files`' suites into `dest` (atomically); the number of test cases.

    An XML file that is no junit file (another tool's, like coverage.xml) is left out and
    appended to `skipped`; one that is not well-formed XML is a ReportError.
    """
    root = ET.Element("testsuites", {"name": "pytest-delegation combine"})
    totals = dict.fromkeys(COUNTS, 0)
    time = 0.0
    cases = 0
    for path in files:
        suites = _suites(path)
        if suites is None:
            if skipped is not None:
                skipped.append(path)
            continue
        for suite in suites:
            for name, query in COUNTS.items():
                totals[name] += _count(suite, name, query)
            time += _number(suite.get("time"))
            cases += len(suite.findall(".//testcase"))
            root.append(suite)
    for name, total in totals.items():
        root.set(name, str(total))
    root.set("time", f"{time:.3f}")
    text = ET.tostring(root, encoding="unicode")
    write_atomic(dest, '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")
    return cases


def _suites(path: Path) -> list[ET.Element] | None:
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        line = exc.position[0]
        raise ReportError(
            f"{path}:{line}: not well-formed XML ({exc}); the file is cut short or is no "
            "junit file: download it again, or remove it"
        ) from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    root = tree.getroot()
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return root.findall("testsuite")
    return None


def _count(suite: ET.Element, name: str, query: str) -> int:
    value = suite.get(name)
    if value is not None:
        try:
            return int(value)
        except ValueError:
            pass
    return len(suite.findall(query))


def _number(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
