"""The upload engine: a bounded queue fed by the plan and drained by workers.

Never more uploads are in flight than the concurrency controller allows (see
concurrency.py): with ``-j auto`` it finds the limit while the run goes, and every 429, 5xx
or timeout lowers it. Each attempt re-opens the file and re-signs the
request. The first Ctrl-C (or SIGTERM) stops starting new files and lets those in flight
finish; a second one cancels them. Every file, finished or not, ends up in the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from imagekit_cli.auth import Signer
from imagekit_cli.client import ImageKitClient, UploadRequest, UploadResponse
from imagekit_cli.concurrency import (
    AUTO,
    AdaptiveLimit,
    Concurrency,
    Controller,
    cap_note,
    fd_headroom,
)
from imagekit_cli.errors import (
    APIError,
    AuthenticationError,
    ExitCode,
    ImageKitCLIError,
    SigningError,
)
from imagekit_cli.report import FileResult, Reporter, RunReport, Status
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry, is_congestion

YIELD_EVERY = 200


@dataclass(frozen=True, slots=True)
class UploadJob:
    """One file to send: where it is shown, where it should land, and the request."""

    path: str
    remote_path: str
    request: UploadRequest
    mtime: float | None = None
    reason: str | None = None


@dataclass
class RunControl:
    """Why the run stops early, shared by workers and signal handlers."""

    stopping: bool = False
    stop_reason: str = ""
    fatal: ImageKitCLIError | None = None
    interrupts: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def stop(self, reason: str) -> None:
        """Start no new files."""
        if not self.stopping:
            self.stopping, self.stop_reason = True, reason


def describe(exc: BaseException) -> str:
    """A short, secret-free description of an attempt's failure."""
    if isinstance(exc, APIError):
        return f"{exc.status} {exc.message}"
    return str(exc) or type(exc).__name__


def error_record(exc: BaseException) -> dict[str, object]:
    """The report's ``error`` object."""
    status = exc.status if isinstance(exc, APIError) else None
    message = exc.message if isinstance(exc, ImageKitCLIError) else str(exc)
    return {"status": status, "message": message}


class Engine:
    """Runs upload jobs with bounded concurrency; results go into a RunReport."""

    def __init__(
        self,
        client: ImageKitClient,
        signer: Signer,
        reporter: Reporter,
        report: RunReport,
        *,
        concurrency: Concurrency = AUTO,
        policy: RetryPolicy | None = None,
        fail_fast: bool = False,
        handle_signals: bool = True,
    ) -> None:
        self.client = client
        self.signer = signer
        self.reporter = reporter
        self.report = report
        cap = fd_headroom()
        self.controller = Controller.for_setting(concurrency, cap)
        self.limit = AdaptiveLimit(self.controller.limit)
        self.concurrency = self.controller.ceiling  # workers; the limit decides how many send
        self._cap_note = cap_note(concurrency, cap)
        self.policy = policy or RetryPolicy()
        self.fail_fast = fail_fast
        self.handle_signals = handle_signals
        self.control = RunControl()
        self.gate = PauseGate(on_outcome=self._adapt)
        self._keys = itertools.count(1)
        self._rng = random.Random()

    def record(self, result: FileResult) -> None:
        """Add a final result to the report and tell the reporter."""
        self.report.add(result)
        self.reporter.finished(result)
        if result.status == Status.FAILED and self.fail_fast:
            self.control.stop("stopped after a failure (--fail-fast)")

    async def run(self, source: Iterable[UploadJob | FileResult]) -> None:
        """Upload every job of ``source``; non-job items are recorded as they come."""
        queue: asyncio.Queue[UploadJob | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        self.control.tasks = workers
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        if self._cap_note:
            self.reporter.message("warning", self._cap_note)
        self.reporter.concurrency(self.limit.limit)
        try:
            await self._produce(source, queue)
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for sig in installed:
                loop.remove_signal_handler(sig)
            self.report.interrupted = self.control.interrupts > 0
            if isinstance(self.control.fatal, AuthenticationError | SigningError):
                self.report.fatal_exit = ExitCode.AUTH

    async def _produce(
        self, source: Iterable[UploadJob | FileResult], queue: asyncio.Queue[UploadJob | None]
    ) -> None:
        try:
            for count, item in enumerate(source):
                if self.control.stopping:
                    break
                if isinstance(item, FileResult):
                    self.record(item)
                    if count % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                    continue
                self.reporter.planned(1, item.request.size)
                await queue.put(item)
        finally:
            self.reporter.planning_done()
            for _ in range(self.concurrency):
                await queue.put(None)

    async def _worker(self, queue: asyncio.Queue[UploadJob | None]) -> None:
        while (job := await queue.get()) is not None:
            if self.control.stopping:
                self.record(
                    self._result(
                        job, Status.SKIPPED, reason=f"not started: {self.control.stop_reason}"
                    )
                )
                continue
            await self._limited_upload(job)

    async def _limited_upload(self, job: UploadJob) -> None:
        try:
            await self.limit.acquire()
        except asyncio.CancelledError:
            self.record(self._result(job, Status.SKIPPED, reason="not started: interrupted"))
            raise
        try:
            if self.control.stopping:
                reason = f"not started: {self.control.stop_reason}"
                self.record(self._result(job, Status.SKIPPED, reason=reason))
                return
            self.controller.started(time.monotonic())
            await self._upload(job)
        finally:
            self.limit.release()

    def _adapt(self, error: BaseException | None) -> None:
        """Feed one attempt's outcome to the controller and apply the new limit."""
        before = self.controller.limit
        if error is None:
            self.controller.on_success(time.monotonic())
        elif is_congestion(error):
            self.controller.on_congestion(time.monotonic())
        if self.controller.limit != before:
            self.limit.set_limit(self.controller.limit)
            self.reporter.concurrency(self.controller.limit)

    def _result(self, job: UploadJob, status: Status, **extra: Any) -> FileResult:
        return FileResult(
            path=job.path,
            remote_path=job.remote_path,
            status=status,
            size=job.request.size,
            mtime=job.mtime,
            **extra,
        )

    async def _upload(self, job: UploadJob) -> None:
        key = next(self._keys)
        started = time.monotonic()
        sent = 0
        self.reporter.started(key, job.path, job.request.size)

        def on_bytes(count: int) -> None:
            nonlocal sent
            sent += count
            self.reporter.progress(key, count)

        async def attempt() -> UploadResponse:
            nonlocal sent
            if sent:
                self.reporter.progress(key, -sent)
                sent = 0
            credentials = await self.signer.sign(job.request.fields)
            return await self.client.upload(
                job.request, credentials, api_version=self.signer.api_version, on_bytes=on_bytes
            )

        def on_retry(attempt_no: int, exc: BaseException, wait_s: float) -> None:
            self.reporter.retrying(key, job.path, attempt_no, describe(exc), wait_s)

        try:
            response, attempts = await call_with_retry(
                attempt, self.policy, self.gate, on_retry, self._rng
            )
        except asyncio.CancelledError:
            self.record(
                self._result(
                    job, Status.FAILED, reason="interrupted", duration_s=time.monotonic() - started
                )
            )
            raise
        except (AuthenticationError, SigningError) as exc:
            self.control.fatal = self.control.fatal or exc
            self.control.stop("credentials were rejected")
            self.record(self._failed(job, exc, started))
        except ImageKitCLIError as exc:
            self.record(self._failed(job, exc, started))
        else:
            self.record(self._uploaded(job, response, attempts, started))

    def _failed(self, job: UploadJob, exc: ImageKitCLIError, started: float) -> FileResult:
        return self._result(
            job,
            Status.FAILED,
            reason=describe(exc),
            error=error_record(exc),
            attempts=exc.attempts,
            duration_s=time.monotonic() - started,
        )

    def _uploaded(
        self, job: UploadJob, response: UploadResponse, attempts: int, started: float
    ) -> FileResult:
        body = response.body
        stored = str(body.get("filePath") or job.remote_path)
        reason = job.reason
        if response.status == 202:
            reason = f"queued by ImageKit: {body.get('message', 'processing')}"
        elif stored != job.remote_path:
            reason = f"stored as {stored} (predicted {job.remote_path})"
        version = body.get("versionInfo") or {}
        return FileResult(
            path=job.path,
            remote_path=stored,
            status=Status.UPLOADED,
            reason=reason,
            size=job.request.size,
            mtime=job.mtime,
            attempts=attempts,
            duration_s=time.monotonic() - started,
            file_id=body.get("fileId"),
            version_id=version.get("id"),
            url=body.get("url"),
            sha256=response.sha256,
        )

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        if not self.handle_signals:
            return []
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal)
                installed.append(sig)
        return installed

    def _on_signal(self) -> None:
        self.control.interrupts += 1
        if self.control.interrupts == 1:
            self.control.stop("interrupted")
            self.reporter.message(
                "warning",
                "Interrupted: finishing the uploads in flight; press Ctrl-C again to cancel them.",
            )
        else:
            for task in self.control.tasks:
                task.cancel()
