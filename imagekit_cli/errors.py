"""Every error imagekit-cli raises, and the exit codes they map to.

Domain code raises these and never prints or exits; the CLI's error boundary turns them
into one ``Error: ...`` line on stderr and an exit code.

::

    ImageKitCLIError                 exit 1 unless a subclass says otherwise
    ├── UsageError                   exit 2: a bad flag, path or option value
    ├── ConfigError                  exit 3: missing or invalid configuration
    │   └── CredentialsError         exit 3: a key missing, misplaced or badly protected
    ├── SigningError                 exit 3: the --auth-endpoint did not give usable material
    │   └── CertificateError         exit 3: a server's TLS certificate failed verification
    ├── LocalFileError               one file could not be read, or changed under us
    ├── TransportError               no HTTP answer: connection refused/reset, timeout
    │   ├── TimeoutError_            the request timed out
    │   └── AnswerLostError          sent in full, then no answer: it may have been stored
    ├── APIError                     ImageKit answered with a non-2xx status
    │   ├── BadRequestError          400 and other 4xx that retrying cannot fix
    │   ├── AuthenticationError      401/403: exit 3, stops the whole run
    │   ├── NotFoundError            404
    │   ├── RateLimitError           429
    │   └── ServerError              5xx
    └── DeleteLimitError             --max-delete would be exceeded
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; a contract for pipelines (README, "Exit codes")."""

    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    INTERRUPTED = 130


class ImageKitCLIError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED
    attempts: int = 1  # how many attempts a retried call made before it gave up

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


class UsageError(ImageKitCLIError):
    """A flag, argument or option value is wrong; nothing was sent."""

    exit_code = ExitCode.USAGE


class ConfigError(ImageKitCLIError):
    """Configuration is missing or invalid."""

    exit_code = ExitCode.AUTH


class CredentialsError(ConfigError):
    """A key is missing, misplaced (private where public belongs) or badly protected."""


class SigningError(ImageKitCLIError):
    """The signing backend (--auth-endpoint) failed or answered with something unusable."""

    exit_code = ExitCode.AUTH


class CertificateError(SigningError):
    """A server's TLS certificate could not be verified. Not transient, so never retried;
    like a refused signature it stops the run, since no credential may be sent there."""


class LocalFileError(ImageKitCLIError):
    """A local file could not be read, or changed between planning and upload."""


class TransportError(ImageKitCLIError):
    """The request got no HTTP answer (connection refused or dropped, protocol error)."""


class TimeoutError_(TransportError):
    """The request timed out."""


class AnswerLostError(TransportError):
    """The request body was sent in full, then the connection was lost or no answer came
    in time: the server may have acted on it, so the outcome is unknown (ambiguous), unlike
    a refused connection or an error status (clear)."""

    def __init__(self, message: str, *, sha256: str | None = None) -> None:
        super().__init__(message)
        self.sha256 = sha256  # of the bytes sent, when a file was streamed


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The rate-limit headers of one response, in seconds where they are durations."""

    limit: int | None = None
    interval_s: float | None = None
    reset_s: float | None = None
    retry_after_s: float | None = None

    @property
    def wait_s(self) -> float | None:
        """How long the server asked us to wait, if it said."""
        waits = [w for w in (self.retry_after_s, self.reset_s) if w is not None]
        return max(waits) if waits else None


class APIError(ImageKitCLIError):
    """ImageKit answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        request_id: str | None = None,
        rate_limit: RateLimitInfo | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.request_id = request_id
        self.rate_limit = rate_limit or RateLimitInfo()


class BadRequestError(APIError):
    """400, or another 4xx that a retry cannot fix."""


class AuthenticationError(APIError):
    """401 or 403: the credentials were refused. Stops the whole run."""

    exit_code = ExitCode.AUTH


class NotFoundError(APIError):
    """404: the file or folder does not exist."""


class RateLimitError(APIError):
    """429: too many requests; wait for ``rate_limit.wait_s``."""


class ServerError(APIError):
    """5xx: ImageKit failed; usually worth a retry."""


class DeleteLimitError(ImageKitCLIError):
    """More remote files would be deleted than --max-delete allows."""


def api_error_for_status(status: int) -> type[APIError]:
    """The APIError subclass for an HTTP status."""
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return BadRequestError
