"""Nothing a file name or a server message holds can steer what we print (issue #11, item 3)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from xml.etree import ElementTree

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.report_files import github_annotations, step_summary, to_junit
from imagekit_cli.tables import print_table
from imagekit_cli.text import markdown_cell, printable
from imagekit_cli.ui import PlainReporter
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState

CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]]
HOSTILE = [*CONTROLS, "::", "##[", "#", "|", "`", "\\", "<", "[", "\u202e", "\u2028", "\ufffe",
           "\udcff", "warning title=x::", "a", "é", " "]  # fmt: skip
hostile_names = st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=12).map("".join)
# Python's splitlines also breaks on these; a CI log or an editor may too.
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _failed(name: str, message: str) -> FileResult:
    return FileResult(name, "/r/" + name, Status.FAILED, message,
                      error={"status": 400, "message": message})  # fmt: skip


def _assert_safe_lines(text: str, lines_expected: int) -> None:
    lines = text.split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == lines_expected
    for line in lines[:-1]:
        assert not LINE_BREAKS.search(line)
        assert not any(c in line for c in CONTROLS)
        assert not line.lstrip().startswith(("::", "##["))


@settings(max_examples=300, deadline=None)
@given(name=hostile_names, message=hostile_names)
def test_hostile_names_cannot_steer_any_output(name: str, message: str) -> None:
    report = RunReport("upload")
    report.add(_failed(name, message))
    report.add(FileResult(name + ".ok", "/r/x.jpg", Status.UPLOADED, size=1))
    report.finish()

    buffer = io.StringIO()
    plain = PlainReporter(Console(file=buffer, force_terminal=False))
    for result in report.files:
        plain.finished(result)
    plain.message("warning", message)
    _assert_safe_lines(buffer.getvalue(), 3)

    table = io.StringIO()
    print_table(report.files, Console(file=table, width=1000, force_terminal=True))
    assert "\x1b]" not in table.getvalue()  # no OSC (titles, hyperlinks) from a name
    assert not any(c in table.getvalue().replace("\x1b[", "") for c in CONTROLS if c != "\n")

    summary = step_summary(report)
    rows = summary.splitlines()
    assert [r for r in rows if r.startswith("#")] == ["### imagekit upload"]
    failure_row = rows[-1]
    assert not LINE_BREAKS.search(summary.replace("\n", ""))
    unescaped_pipes = re.findall(r"(?<!\\)(?:\\\\)*\|", failure_row)
    assert len(unescaped_pipes) == 4  # exactly three cells

    annotations = github_annotations(report)
    assert len(annotations) == 1
    assert not any(c in annotations[0] for c in CONTROLS)

    root = ElementTree.fromstring(to_junit(report).encode())  # a parse error fails the test
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == [printable(name), printable(name + ".ok")]


def test_printable_shows_what_was_escaped() -> None:
    assert printable("a\nb\r\tc\x1b[31m\x01\x7f\x9b") == "a\\nb\\r\\tc\\x1b[31m\\x01\\x7f\\x9b"
    assert printable("::warning::x") == "\\x3a:warning::x"
    assert printable("  ##[error]x") == "  \\x23#[error]x"
    assert printable("évian ☃ 東京.jpg") == "évian ☃ 東京.jpg"
    assert printable("a\u202egpj.exe") == "a\\u202egpj.exe"
    assert markdown_cell("# a|b`c`\nd") == "\\# a\\|b\\`c\\`\\\\nd"


def test_injected_workflow_command_in_a_file_name_stays_inert(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    bad = "x\n::warning title=INJECTED::pwned.jpg"
    make_file(tmp_path / "d" / bad, 10)
    make_file(tmp_path / "d" / "ok\x1b]0;owned\x07.jpg", 10, 1)
    fake.faults.fail_names[bad] = (400, "bad\n::error::echoed by the server")
    summary = tmp_path / "summary.md"
    env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "CI": "true"}
    result = cli("upload", str(tmp_path / "d"), "--folder", "/gh", "--report",
                 str(tmp_path / "run.xml"), env=env)  # fmt: skip
    assert result.exit_code == 1
    commands = [ln for ln in result.stderr.splitlines() if ln.lstrip().startswith("::")]
    assert len(commands) == 1
    assert commands[0].startswith("::error file=")
    assert "INJECTED" in commands[0]  # the name is there, escaped, inside our annotation
    assert "\x1b" not in result.stderr + result.stdout
    assert "x\\n\\x3a:warning title=INJECTED" not in result.stderr  # escaped once, mid-line
    assert "x\\n::warning title=INJECTED::pwned.jpg" in result.stderr
    headings = [ln for ln in summary.read_text().splitlines() if ln.startswith("#")]
    assert headings == ["### imagekit upload"]
    suite = ElementTree.parse(tmp_path / "run.xml").getroot()
    assert len(list(suite.iter("testcase"))) == 2


def test_live_display_shows_hostile_names_escaped() -> None:
    from imagekit_cli.ui import RichReporter

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    name = "evil\x1b]0;owned\x07\x1b[2J\n::warning::x.jpg"
    with RichReporter(console, verbose=1) as reporter:
        reporter.planned(1, 10)
        reporter.started(1, name, 10)
        reporter.retrying(1, name, 1, "500 \x1b[31mred", 0.0)
        reporter.finished(FileResult(name, "/x.jpg", Status.FAILED, "bad\x1b[5m"))
    text = buffer.getvalue()
    assert "\x1b]0;owned" not in text
    assert "\x07" not in text
    assert "\x1b[2J" not in text
    assert "\x1b[5m" not in text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # rich's own styling
    assert "failed evil\\x1b]0;owned\\x07\\x1b[2J\\n::warning::x.jpg: bad\\x1b[5m" in plain


def test_extensions_in_the_skipped_by_type_line_are_escaped(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "a.x\n::error::pwned", 10)
    make_file(tmp_path / "d" / "b.\x1b]0;title\x07evil", 10, 1)
    make_file(tmp_path / "d" / "ok.png", 10, 2)
    result = cli("upload", str(tmp_path / "d"), "--folder", "/ext", "-q",
                 env={**env, "GITHUB_ACTIONS": "true"})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Skipped by type: " in result.stderr
    assert not [ln for ln in result.stderr.splitlines() if ln.lstrip().startswith("::")]
    assert "\x1b" not in result.stderr
    assert ".x\\n::error::pwned" in result.stderr
