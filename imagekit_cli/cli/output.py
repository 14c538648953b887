"""What every run prints: results on stdout, report files, the summary and CI extras."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from imagekit_cli.cli.context import AppContext
from imagekit_cli.report import (
    FanoutReporter,
    JournalWriter,
    JsonlWriter,
    Reporter,
    RunReport,
    render,
    write_report,
)
from imagekit_cli.ui import github_annotations, print_summary, print_table, step_summary


@dataclass
class RunOutputs:
    """Where results go while a run is in progress, and whether the report keeps them all."""

    output: str
    report_path: str | None
    keep_files: bool
    journal: JournalWriter | None = None
    stdout_lines: JsonlWriter | None = None

    def reporter(self, ui: Reporter) -> Reporter:
        """The UI reporter plus the streaming writers."""
        streams = [w for w in (self.journal, self.stdout_lines) if w is not None]
        return FanoutReporter(ui, *streams) if streams else ui


def prepare_outputs(app: AppContext, output: str, report_path: str | None) -> RunOutputs:
    """A ``.jsonl`` report is a journal written as files finish; ``-o jsonl`` streams to
    stdout; only the other formats need every result kept until the end."""
    journaled = bool(report_path) and str(report_path).lower().endswith(".jsonl")
    keep = output in ("json", "csv") or (output == "table" and not app.quiet)
    keep = keep or (bool(report_path) and not journaled)
    return RunOutputs(
        output=output,
        report_path=report_path,
        keep_files=keep,
        journal=JournalWriter(Path(str(report_path))) if journaled else None,
        stdout_lines=JsonlWriter(sys.stdout) if output == "jsonl" else None,
    )


def _redact_report(app: AppContext, report: RunReport) -> None:
    """Secrets out of the report header and failure messages, whatever their source."""
    report.target = {
        k: app.redact(v) if isinstance(v, str) else v for k, v in report.target.items()
    }
    for failure in report.failures:
        failure.reason = app.redact(failure.reason) if failure.reason else failure.reason
        if failure.error and isinstance(failure.error.get("message"), str):
            failure.error["message"] = app.redact(failure.error["message"])


def finish_run(app: AppContext, report: RunReport, outputs: RunOutputs) -> None:
    """Write the report file, results on stdout, the summary and CI annotations."""
    report.finish()
    _redact_report(app, report)
    if outputs.journal is not None:
        outputs.journal.close()
    elif outputs.report_path:
        write_report(report, Path(outputs.report_path))
    if outputs.output == "table":
        if not app.quiet and report.files:
            print_table(report.files, app.out)
    elif outputs.output != "jsonl":
        sys.stdout.write(render(report, outputs.output))
        sys.stdout.flush()
    print_summary(report, app.err, quiet=app.quiet)
    if app.env.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            app.err.print(line, markup=False, highlight=False)
        summary_file = app.env.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(step_summary(report))
