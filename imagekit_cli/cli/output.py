"""What every run prints at its end: results on stdout, report file, summary, CI extras."""

from __future__ import annotations

import sys
from pathlib import Path

from imagekit_cli.cli.context import AppContext
from imagekit_cli.report import JournalWriter, RunReport, render, write_report
from imagekit_cli.ui import github_annotations, print_summary, print_table, step_summary


def open_journal(report_path: str | None) -> JournalWriter | None:
    """A ``.jsonl`` report is a journal, written line by line as files finish."""
    if report_path and report_path.lower().endswith(".jsonl"):
        return JournalWriter(Path(report_path))
    return None


def finish_run(
    app: AppContext,
    report: RunReport,
    output: str,
    report_path: str | None,
    journal: JournalWriter | None,
) -> None:
    """Write the report file, results on stdout, the summary and CI annotations."""
    report.finish()
    if journal is not None:
        journal.close()
    elif report_path:
        write_report(report, Path(report_path))
    if output == "table":
        if not app.quiet and report.files:
            print_table(report.files, app.out)
    else:
        sys.stdout.write(render(report, output))
        sys.stdout.flush()
    print_summary(report, app.err, quiet=app.quiet)
    if app.env.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            app.err.print(line, markup=False, highlight=False)
        summary_file = app.env.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(step_summary(report))
