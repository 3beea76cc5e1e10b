"""The one JSON error shape of the service, and the map from engine errors to HTTP statuses.

Every error response is ``{"error": "<Code>", "message": "<sentence>", "requestId": "…"}``
plus fields of its own (``diagnostics`` for a ``CompileError``). Handlers raise
:class:`ApiError`; ``ApiHandler.write_error`` renders it.
"""

from __future__ import annotations

from collections.abc import Mapping

from tornado.web import HTTPError

from constellation.errors import (
    CompileError,
    ExecutionExpired,
    InputError,
    NotFound,
    ResumeConflict,
    StoreError,
)

#: The code of each status the service answers with when nothing more specific applies.
STATUS_CODES: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "ExecutionExpired",
    411: "LengthRequired",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class ApiError(HTTPError):
    """An HTTP error with its code, a sentence for people, extra body fields and headers.

    A tornado ``HTTPError`` so that raising it anywhere in a handler ends in ``write_error``
    without a stack trace in the log (it is the client's error, not the server's).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.code = code
        self.message = message
        self.extra: Mapping[str, object] = extra or {}
        self.headers: Mapping[str, str] = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def from_engine(exc: BaseException) -> ApiError | None:
    """The ApiError of an error the engine raises on purpose, or None for anything else."""
    if isinstance(exc, CompileError):
        errors = len(exc.errors) + exc.omitted
        noun = "error" if errors == 1 else "errors"
        return ApiError(
            400,
            "CompileError",
            f"The source does not compile: {errors} {noun} (see diagnostics)",
            extra={"diagnostics": [d.to_json() for d in exc.diagnostics]},
        )
    if isinstance(exc, InputError):
        return ApiError(400, "InputError", str(exc))
    if isinstance(exc, NotFound):
        return ApiError(404, "NotFound", str(exc))
    if isinstance(exc, ExecutionExpired):
        return ApiError(410, "ExecutionExpired", str(exc))
    if isinstance(exc, ResumeConflict):
        return ApiError(409, "ResumeConflict", str(exc))
    if isinstance(exc, StoreError):
        return ApiError(503, "StoreError", f"The store cannot serve this request: {exc}")
    return None


def error_body(
    code: str, message: str, request_id: str, extra: Mapping[str, object]
) -> dict[str, object]:
    body: dict[str, object] = {"error": code, "message": message, "requestId": request_id}
    body.update(extra)
    return body
