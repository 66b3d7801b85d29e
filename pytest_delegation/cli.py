"""The ``pytest-delegation`` console script: ``combine`` merges CI jobs' reports into one.

    pytest-delegation combine DIR_OR_FILE... [--report TYPE[:DEST]]... [--junitxml PATH]
        [-q|-v] [--color yes|no|auto]

The merged report is rendered by the code that renders a local run; the exit status is
the run's (0 ok, 1 failed, 2 interrupted), and 4 when the reports cannot be combined,
as pytest's usage errors: a message, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING
from typing import Any
from typing import NoReturn
from typing import cast

from pytest_delegation.ci.reports import ReportError
from pytest_delegation.options import report_type
from pytest_delegation.plan.problems import PlanError
from pytest_delegation.report.names import plural
from pytest_delegation.vocab import DURATIONS_KEY


if TYPE_CHECKING:
    from _pytest._io import TerminalWriter
    import pytest


PROG = "pytest-delegation"
USAGE_ERROR = 4
EXIT_STATUS = {"ok": 0, "failed": 1, "interrupted": 2}
#: the file of pytest's cache that holds the tasks' durations, under rootdir
DURATIONS = Path(".pytest_cache", "v", *DURATIONS_KEY.split("/"))


class Parser(argparse.ArgumentParser):
    """Usage errors exit 4, as pytest's do (argparse's own is 2, a run's "interrupted")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


class Refused(Exception):
    """What stops a combine: said on stderr as a usage error."""


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Tools of pytest-delegation for runs spread over CI jobs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    combine = commands.add_parser(
        "combine",
        help="merge the JSON reports of CI jobs into one run report",
        description="Merge the JSON reports of a run's CI jobs (one plan) into one run "
        "report: statuses, findings once each, one timeline with a lane per job. Exit "
        "status: 0 ok, 1 failed, 2 interrupted, 4 when the reports cannot be combined.",
    )
    combine.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="DIR_OR_FILE",
        help="A folder searched for *.json reports (and *.xml for --junitxml), or a file",
    )
    combine.add_argument(
        "--report",
        action="append",
        dest="reports",
        type=_report_type,
        metavar="TYPE[:DEST]",
        help="Output: term (the default when none is given), json[:PATH], markdown[:PATH], "
        "html[:PATH]; repeatable",
    )
    combine.add_argument(
        "--junitxml",
        type=Path,
        metavar="PATH",
        help="Also merge the junit XML files found in the folders into PATH",
    )
    combine.add_argument("-q", "--quiet", action="count", default=0, help="Only the verdict")
    combine.add_argument(
        "-v", "--verbose", action="count", default=0, help="Every finding, each task's files"
    )
    combine.add_argument(
        "--color", choices=("yes", "no", "auto"), default="auto", help="Colour the terminal"
    )
    return parser


def _report_type(value: str) -> tuple[str, str | None]:
    try:
        return report_type(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).replace("--delegation-report", "--report")
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    try:
        return run_combine(args)
    except (Refused, ReportError, PlanError) as exc:
        sys.stderr.write(f"{PROG} {args.command}: error: {exc}\n")
        return USAGE_ERROR


def run_combine(args: argparse.Namespace) -> int:
    from pytest_delegation.ci.combine import combine
    from pytest_delegation.ci.combine import durations
    from pytest_delegation.ci.reports import read_reports

    outputs = _outputs(args.reports or [("term", None)])
    written = {path.resolve() for kind, path in outputs if kind != "term"}
    junit_dest = args.junitxml.resolve() if args.junitxml else None
    if junit_dest is not None:
        if junit_dest in written:
            raise Refused(f"--junitxml={args.junitxml}: a --report is written there too")
        written.add(junit_dest)
    paths: list[Path] = args.paths
    xml_files = [p for p in paths if p.suffix == ".xml" and p.is_file()]
    found = read_reports([p for p in paths if p not in xml_files], slim=True, exclude=written)
    if not found.reports:
        skipped = f" ({len(found.skipped)} JSON files there are not reports)" * bool(found.skipped)
        raise Refused(
            f"no delegation report in {', '.join(map(str, paths))}{skipped}: download the "
            "jobs' reports (written with --delegation-report=json:...) there first"
        )
    combined = combine(found.reports, skipped=len(found.skipped))
    data = combined.data
    lines = []
    if junit_dest is not None:
        lines.append(_junit(paths, xml_files, args.junitxml, written))
    lines += _write(data, outputs)
    saved = _save_durations(durations(data))
    if saved:
        lines.append(saved)
    verbosity = args.verbose - args.quiet
    if any(kind == "term" for kind, _ in outputs):
        from pytest_delegation.report.read import report_from_data
        from pytest_delegation.report.terminal import render

        try:
            report = report_from_data(data, mode=f"combined from {plural(combined.jobs, 'job')}")
        except ValueError as exc:
            raise Refused(f"a report holds what this version does not know ({exc})") from None
        writer = _Writer(_terminal(args.color))
        try:
            for line in lines:
                writer.write_line(line)
            render(report, cast("pytest.TerminalReporter", writer), verbosity)
            sys.stdout.flush()
        except BrokenPipeError:
            # `| head`: the reader has gone; the files are written, the status stands
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    else:
        for line in lines:
            print(line)
    return EXIT_STATUS.get(data["summary"]["verdict"], 1)


def _outputs(reports: Sequence[tuple[str, str | None]]) -> list[tuple[str, Path]]:
    """The reports asked for, each (kind, path) once; a term report has the path ''."""
    outputs: list[tuple[str, Path]] = []
    seen: dict[Path, str] = {}
    for kind, dest in dict.fromkeys(reports):
        if dest is None:
            outputs.append((kind, Path("")))
            continue
        path = Path(dest)
        resolved = path.resolve()
        if resolved in seen:
            raise Refused(
                f"--report={kind}:{dest}: the {seen[resolved]} report is written there "
                "too; give each format its own file"
            )
        if resolved.is_dir():
            raise Refused(f"--report={kind}:{dest}: that is a folder; name a file in it")
        seen[resolved] = kind
        outputs.append((kind, path))
    return outputs


def _write(data: dict[str, Any], outputs: Sequence[tuple[str, Path]]) -> list[str]:
    """Each file report, written atomically; the lines that say where."""
    from pytest_delegation.report.build import render_file
    from pytest_delegation.report.files import write_atomic

    lines = []
    for kind, path in outputs:
        if kind == "term":
            continue
        text = render_file(kind, data)
        try:
            write_atomic(path, text)
        except OSError as exc:
            raise Refused(
                f"the {kind} report could not be written to {path}: {exc.strerror or exc}"
            ) from None
        lines.append(f"{kind} report: {path}")
    return lines


def _junit(paths: Sequence[Path], named: Sequence[Path], dest: Path, exclude: set[Path]) -> str:
    from pytest_delegation.ci.junit import merge_junit

    files = list(named)
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.xml") if p.is_file())
    files = [p for p in dict.fromkeys(files) if p.resolve() not in exclude]
    skipped: list[Path] = []
    try:
        cases = merge_junit(files, dest, skipped=skipped)
    except OSError as exc:
        raise Refused(f"--junitxml={dest}: cannot be written: {exc.strerror or exc}") from None
    merged = len(files) - len(skipped)
    line = f"junit XML: {plural(cases, 'test case')} from {plural(merged, 'file')} in {dest}"
    if skipped:
        line += f" (skipped {len(skipped)} XML files that are not junit)"
    return line


def _save_durations(merged: dict[str, float]) -> str:
    """The tasks' durations into this folder's pytest cache, for the next packing."""
    if not merged or not Path(".pytest_cache").is_dir():
        return ""
    from pytest_delegation.report.files import write_atomic

    known: dict[str, Any] = {}
    try:
        loaded = json.loads(DURATIONS.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            known = loaded
    except (OSError, ValueError):
        pass
    known.update(merged)
    try:
        write_atomic(DURATIONS, json.dumps(known, ensure_ascii=False, indent=2, sort_keys=True))
    except OSError as exc:
        return f"durations not saved in .pytest_cache: {exc.strerror or exc}"
    return (
        f"durations of {len(merged)} tasks saved in .pytest_cache: the next "
        "pytest --delegation-ci here packs jobs by them"
    )


def _terminal(color: str) -> TerminalWriter:
    from _pytest._io import TerminalWriter

    writer = TerminalWriter(file=sys.stdout)
    if color == "yes":
        writer.hasmarkup = True
    elif color == "no":
        writer.hasmarkup = False
    return writer


class _Writer:
    """What ``report.terminal.render`` uses of a TerminalReporter, over a TerminalWriter."""

    def __init__(self, tw: TerminalWriter) -> None:
        self.tw = tw

    def write(self, text: str, **markup: bool) -> None:
        self.tw.write(text, **markup)

    def write_line(self, line: str, **markup: bool) -> None:
        self.tw.line(line, **markup)

    def write_sep(self, sep: str, title: str | None = None, **markup: bool) -> None:
        self.tw.sep(sep, title, **markup)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
