"""The upload engine: a bounded queue fed by the plan and drained by workers.

Never more uploads are in flight than the concurrency controller allows (see
concurrency.py): with ``-j auto`` it finds the limit while the run goes, and every 429,
5xx or timeout lowers it. Each attempt re-opens the file and re-signs the
request. The run stops starting files after a Ctrl-C or SIGTERM (see interrupts.py), a
refused key, ``--fail-fast``, a closed stdout, or when the circuit breaker finds the server
unreachable; a second signal cancels the uploads in flight. Every planned file ends up in
the report: files not started are ``skipped`` with the reason, and an unexpected error
while signing, sending or parsing fails that one file, never the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from imagekit_cli.auth import Signer
from imagekit_cli.breaker import CircuitBreaker
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
    AnswerLostError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ExitCode,
    ImageKitCLIError,
    SigningError,
    TransportError,
)
from imagekit_cli.events import Reporter, record
from imagekit_cli.interrupts import Interrupts, Listener
from imagekit_cli.lookup import CONFIRMED, LostAnswers, Target, Tries
from imagekit_cli.report import FileResult, RunReport, Status
from imagekit_cli.retry import PauseGate, RetryPolicy, call_with_retry, is_congestion

YIELD_EVERY = 200
WALK_AFTER_CANCEL_S = 2.0  # after a second interrupt, how long the rest of the plan is listed


@dataclass(frozen=True, slots=True)
class UploadJob:
    """One file to send: where it is shown, where it should land, and the request."""

    path: str
    remote_path: str
    request: UploadRequest
    mtime: float | None = None
    reason: str | None = None

    @property
    def size(self) -> int:
        """The bytes to send (the request's)."""
        return self.request.size


@dataclass
class RunControl:
    """Why the run stops early, shared by workers and signal handlers."""

    stopping: bool = False
    stop_reason: str = ""
    fatal: ImageKitCLIError | None = None
    crash: Exception | None = None  # our own output failed; raised once the report is whole
    interrupts: int = 0
    cancelled_at: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    no_workers: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self, reason: str) -> None:
        """Start no new files."""
        if not self.stopping:
            self.stopping, self.stop_reason = True, reason
            self.stopped.set()

    def worker_ended(self, _task: asyncio.Task[None]) -> None:
        """Once every worker has ended, nothing may wait for one to take a job."""
        if all(task.done() for task in self.tasks):
            self.no_workers.set()


def describe(exc: BaseException) -> str:
    """A short, secret-free description of an attempt's failure."""
    if isinstance(exc, APIError):
        return f"{exc.status} {exc.message}"
    return str(exc) or type(exc).__name__


def error_record(exc: BaseException) -> dict[str, object]:
    """The report's ``error`` object, with ImageKit's request id (support asks for it)."""
    status = exc.status if isinstance(exc, APIError) else None
    message = exc.message if isinstance(exc, ImageKitCLIError) else str(exc)
    request_id = exc.request_id if isinstance(exc, APIError) else None
    return {"status": status, "message": message, "request_id": request_id}


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
        interrupts: Interrupts | None = None,
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
        self.interrupts = interrupts or (Interrupts() if handle_signals else None)
        self.control = RunControl()
        self.breaker = CircuitBreaker()
        self.gate = PauseGate(on_outcome=self._adapt)
        self._keys = itertools.count(1)
        self._rng = random.Random()
        self.lost_answers = LostAnswers(
            client, self.policy, lambda text: reporter.message("warning", text), rng=self._rng
        )

    def record(self, result: FileResult) -> None:
        """Add a final result to the report and tell the reporter."""
        try:
            record(self.report, self.reporter, result)
        except Exception as exc:  # our own output failed (a full disk): stop, raise at the end
            self.control.crash = self.control.crash or exc
            self.control.stop(f"the output failed ({describe(exc)})")
        if result.status == Status.FAILED and self.fail_fast:
            self.control.stop("stopped after a failure (--fail-fast)")

    def _not_started(self, job: UploadJob) -> None:
        reason = self.control.stop_reason or "the run ended early"
        self.record(FileResult.of(job, Status.SKIPPED, reason=f"not started: {reason}"))

    async def run(self, source: Iterable[UploadJob | FileResult]) -> None:
        """Upload every job of ``source``; non-job items are recorded as they come."""
        queue: asyncio.Queue[UploadJob | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        self.control.tasks = workers
        for task in workers:
            task.add_done_callback(self.control.worker_ended)
        listener = Listener(asyncio.get_running_loop(), self._on_signal, self.control.stop)
        if self._cap_note:
            self.reporter.message("warning", self._cap_note)
        self.reporter.concurrency(self.limit.limit)
        with contextlib.ExitStack() as stack:
            if self.interrupts is not None:
                stack.enter_context(self.interrupts.installed())
                stack.enter_context(self.interrupts.listening(listener))
            try:
                await self._produce(source, queue)
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                while not queue.empty():
                    if (left := queue.get_nowait()) is not None:
                        self._not_started(left)
                self._settle()
        if self.control.crash is not None:
            raise self.control.crash

    def _settle(self) -> None:
        self.report.interrupted = self.control.interrupts > 0
        if isinstance(self.control.fatal, AuthenticationError | SigningError):
            self.report.fatal_exit = ExitCode.AUTH
            self.report.fatal = self.report.fatal or self.control.fatal
        elif self.breaker.tripped and self.report.fatal_exit is None:
            self.report.fatal_exit = ExitCode.FAILED

    async def _produce(
        self, source: Iterable[UploadJob | FileResult], queue: asyncio.Queue[UploadJob | None]
    ) -> None:
        """Feed the queue; once the run stops, record each file left as not started."""
        try:
            for count, item in enumerate(source):
                if isinstance(item, FileResult):
                    self.record(item)
                elif self.control.stopping:
                    self._not_started(item)
                else:
                    self.reporter.planned(1, item.request.size)
                    if not await self._offer(queue, item, self.control.stopped):
                        self._not_started(item)
                    continue
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    if self._walked_long_enough():
                        break
        finally:
            self.reporter.planning_done()
            for _ in range(self.concurrency):
                if not await self._offer(queue, None):
                    break

    async def _offer(
        self, queue: asyncio.Queue[UploadJob | None], item: UploadJob | None, *until: asyncio.Event
    ) -> bool:
        """Queue ``item``; False if every worker has ended, or one of ``until`` is set, first."""
        if not queue.full():
            queue.put_nowait(item)
            return True
        put = asyncio.ensure_future(queue.put(item))
        watchers = [asyncio.ensure_future(e.wait()) for e in (self.control.no_workers, *until)]
        try:
            await asyncio.wait([put, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in watchers:
                watcher.cancel()
            if not put.done():
                put.cancel()
        return put.done() and not put.cancelled()

    def _walked_long_enough(self) -> bool:
        """After a second interrupt the rest of the plan is listed only for a short while."""
        cancelled = self.control.cancelled_at
        if cancelled is None or time.monotonic() - cancelled < WALK_AFTER_CANCEL_S:
            return False
        self.reporter.message(
            "warning", "Stopped listing the files not started; the report lists those seen."
        )
        return True

    async def _worker(self, queue: asyncio.Queue[UploadJob | None]) -> None:
        while (job := await queue.get()) is not None:
            if self.control.stopping:
                self._not_started(job)
                continue
            await self._limited_upload(job)

    async def _limited_upload(self, job: UploadJob) -> None:
        try:
            await self.limit.acquire()
        except asyncio.CancelledError:
            self.record(FileResult.of(job, Status.SKIPPED, reason="not started: interrupted"))
            raise
        try:
            if self.control.stopping:
                self._not_started(job)
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

    async def _upload(self, job: UploadJob) -> None:
        key = next(self._keys)
        started = time.monotonic()
        sent = 0

        def on_bytes(count: int) -> None:
            nonlocal sent
            sent += count
            self.reporter.progress(key, count)

        tries = Tries(Target.of(job.remote_path, job.request))

        async def attempt() -> UploadResponse:
            nonlocal sent
            if tries.lost is not None and (found := await self.lost_answers.find(tries)):
                return found
            if sent:
                self.reporter.progress(key, -sent)
                sent = 0
            return await self._send(job, tries, on_bytes)

        def on_retry(attempt_no: int, exc: BaseException, wait_s: float) -> None:
            self._observe(exc)
            self.reporter.retrying(key, job.path, attempt_no, describe(exc), wait_s)

        try:
            self.reporter.started(key, job.path, job.request.size)
            response, attempts = await self._with_retries(attempt, on_retry, tries)
            done = self._uploaded(job, response, attempts, started)
        except asyncio.CancelledError:
            self.record(
                FileResult.of(
                    job, Status.FAILED, reason="interrupted", duration_s=time.monotonic() - started
                )
            )
            raise
        except (AuthenticationError, SigningError) as exc:
            self.control.fatal = self.control.fatal or exc
            self.control.stop("credentials were rejected")
            self.record(self._failed(job, exc, started))
        except ImageKitCLIError as exc:
            self._observe(exc)
            self.record(self._failed(job, exc, started))
        except Exception as exc:  # a bug or a surprise in signing, sending or parsing
            self.record(self._failed(job, exc, started))
        else:
            self.breaker.success()
            self.record(done)

    async def _with_retries(
        self,
        attempt: Callable[[], Awaitable[UploadResponse]],
        on_retry: Callable[[int, BaseException, float], None],
        tries: Tries,
    ) -> tuple[UploadResponse, int]:
        """Every attempt the policy allows; when the last one still ends with an answer
        lost after sending, look once more before calling the file failed."""
        try:
            return await call_with_retry(attempt, self.policy, self.gate, on_retry, self._rng)
        except ImageKitCLIError as exc:
            if tries.lost is not None and (found := await self.lost_answers.find(tries)):
                return found, exc.attempts
            raise

    async def _send(
        self, job: UploadJob, tries: Tries, on_bytes: Callable[[int], None]
    ) -> UploadResponse:
        """Sign and send one attempt; an answer lost after the request went out in full
        is remembered, so that the next attempt looks before sending again."""
        credentials = await self.signer.sign(job.request.fields)
        try:
            response = await self.client.upload(
                job.request, credentials, api_version=self.signer.api_version, on_bytes=on_bytes
            )
        except AnswerLostError as exc:
            tries.lost = exc
            raise
        except BadRequestError:  # e.g. "already exists": maybe the lost attempt's file
            if tries.lost is not None and (found := await self.lost_answers.find(tries)):
                return found
            raise
        self.lost_answers.claim(response.body)
        return response

    def _observe(self, exc: BaseException) -> None:
        """Feed the circuit breaker: no answer counts against the server, any answer for it."""
        if isinstance(exc, TransportError):
            if self.breaker.failure():
                self.control.stop(self.breaker.reason())
                self.reporter.message(
                    "warning", f"Stopped starting uploads: {self.breaker.reason()}."
                )
        elif isinstance(exc, APIError):
            self.breaker.success()

    def _failed(self, job: UploadJob, exc: Exception, started: float) -> FileResult:
        if not isinstance(exc, ImageKitCLIError):
            message = f"unexpected {type(exc).__name__}: {describe(exc)}"
            return FileResult.of(job, Status.FAILED, reason=message, attempts=1,
                                error={"status": None, "message": message},
                                duration_s=time.monotonic() - started)  # fmt: skip
        return FileResult.of(
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
        if response.confirmed:
            reason = CONFIRMED
        elif response.status == 202:
            reason = f"queued by ImageKit: {body.get('message', 'processing')}"
        elif stored != job.remote_path:
            reason = f"stored as {stored} (predicted {job.remote_path})"
        version = body.get("versionInfo") or {}
        return FileResult.of(
            job,
            Status.UPLOADED,
            reason,
            remote_path=stored,
            attempts=attempts,
            duration_s=time.monotonic() - started,
            file_id=body.get("fileId"),
            version_id=version.get("id"),
            url=body.get("url"),
            sha256=response.sha256,
        )

    def _on_signal(self, count: int) -> None:
        """First interrupt: start nothing new. Second: cancel the uploads in flight."""
        self.control.interrupts = count
        if count == 1:
            self.control.stop("interrupted")
            self.reporter.message(
                "warning",
                "Interrupted: finishing the uploads in flight; press Ctrl-C again to cancel them.",
            )
            return
        self.control.stop("interrupted")
        self.control.cancelled_at = time.monotonic()
        for task in self.control.tasks:
            task.cancel()
