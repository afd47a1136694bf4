"""The errors a caller can act on, one family for every layer: :class:`JzmapError`.

Each kind of error has a ``code`` (the ``error`` of an API error body, e.g. ``not_found``)
and, through :data:`STATUS`, the HTTP status the API answers it with; the API has one
handler for the whole family (:mod:`api.errors`), the CLI prints the message. The stores
(:class:`~providers.store.StoreUnavailableError`), the file readers
(:class:`~ingest.readers.UnreadableFileError`), the application services
(:class:`~jzmap.application.coverage.UnknownDistrictError`) and the routes raise members of
the family instead of each being translated by a ``try``/``except`` of its own.

Plain Python, low in the layers (the domain), so that every layer above may raise them.
Errors that are not the caller's to act on (a broken invariant, a bug) stay ordinary
exceptions: the API answers them with a 500 that carries only the request's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

STATUS: dict[str, int] = {
    "invalid_parameter": 422,
    "outside_served_area": 422,
    "invalid_request": 422,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unavailable": 503,
    "busy": 503,
    "internal_error": 500,
}
"""The HTTP status of each error ``code``: the one table of what the API answers with."""


@dataclass(frozen=True, slots=True)
class ParameterProblem:
    """What is wrong with one request parameter: the ``details`` of an error body."""

    parameter: str
    message: str
    allowed: str | None
    got: Any


class JzmapError(Exception):
    """An error the caller can act on: its message says what happened and what to do.

    Parameters
    ----------
    message
        For a person; file paths in it are cut to their last part before it is sent.
    details
        The parameters at fault, when the error is about some (``invalid_parameter``).

    Subclasses set ``code`` (a key of :data:`STATUS`). One whose message names internals
    (a file, a database host, a driver's words) sets ``public_message`` too: the API then
    logs the message under the request's id and answers with ``public_message``, where
    ``{retry_after_s}`` is the number of seconds the answer asks the client to wait.
    """

    code: ClassVar[str] = "internal_error"
    public_message: ClassVar[str | None] = None

    def __init__(self, message: str, details: Sequence[ParameterProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    @property
    def status(self) -> int:
        """The HTTP status this error is answered with.

        Examples
        --------
        >>> NotFoundError("no provider with id 'x'").status
        404
        """
        return STATUS[self.code]


class InvalidParameterError(JzmapError):
    """A request parameter the service cannot use (422)."""

    code = "invalid_parameter"

    @classmethod
    def of(cls, parameter: str, problem: str, *, got: Any, allowed: str) -> InvalidParameterError:
        """The error for one parameter: ``"<parameter>: <problem>; allowed: <allowed>"``.

        Examples
        --------
        >>> e = InvalidParameterError.of("k", "too many sites", got=99, allowed="1 to 20")
        >>> e.message, e.details[0].parameter, e.details[0].got
        ('k: too many sites; allowed: 1 to 20', 'k', 99)
        """
        message = f"{parameter}: {problem}; allowed: {allowed}"
        return cls(message, [ParameterProblem(parameter, message, allowed, got)])


class OutsideServedAreaError(InvalidParameterError):
    """A query point too far from the city this service answers for (422)."""

    code = "outside_served_area"


class InvalidRequestError(JzmapError):
    """A request the service cannot act on as a whole, e.g. an unreadable file (422)."""

    code = "invalid_request"


class NotFoundError(JzmapError):
    """No such thing (404): the message says where ids come from."""

    code = "not_found"


class TooLargeError(JzmapError):
    """More than a limit allows in one request (413): the message names the setting."""

    code = "too_large"


class UnavailableError(JzmapError):
    """A store or service cannot answer now; retrying later may work (503)."""

    code = "unavailable"
    public_message = "the service cannot answer now; retry in {retry_after_s} s"


class BusyError(JzmapError):
    """Too much expensive work at once to start this request's (503)."""

    code = "busy"
    public_message = (
        "the server is busy with other expensive requests; retry in {retry_after_s} s, "
        "or narrow the request"
    )


class ConflictError(JzmapError):
    """The request contradicts what is stored (409): the message says what and why."""

    code = "conflict"
