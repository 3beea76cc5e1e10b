"""The handler every endpoint derives from: request ids, CORS, keys and roles, rate limits,
bounded JSON bodies, the one error shape, and per-request metrics.

It assumes nothing about the Application it is mounted in: everything comes from
``initialize(state=…, route=…)``, so Jupyter Server can mount the same classes under a prefix.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Collection
from typing import Any

import tornado.web

from constellation_server.auth import allows, bearer_token, identify
from constellation_server.body import Fields, encode, is_json_content_type, parse_json
from constellation_server.errors import STATUS_CODES, ApiError, error_body
from constellation_server.routing import Operation, Route
from constellation_server.state import ServiceState

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CORS_HEADERS = "Authorization, Content-Type, X-Request-ID"
_CORS_EXPOSE = "X-Request-ID, Retry-After, WWW-Authenticate"
#: The path label of requests no route matched (keeps label values bounded).
UNMATCHED = "unmatched"


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """The base of every endpoint. Subclasses implement ``get``/``post``/``delete``."""

    state: ServiceState
    route: Route
    request_id: str = ""
    _cors_origin: str | None = None
    _body_size = 0
    _too_large = False

    def initialize(self, state: ServiceState, route: Route) -> None:
        self.state = state
        self.route = route
        self._chunks: list[bytes] = []

    # -- context: request id and CORS, also for errors raised before prepare --------------

    def _context(self) -> None:
        if self.request_id:
            return
        given = self.request.headers.get("X-Request-ID")
        self.request_id = (
            given if given is not None and _REQUEST_ID.fullmatch(given) else _new_request_id()
        )
        origin = self.request.headers.get("Origin")
        if origin is not None and origin in self.state.cors_origins:
            self._cors_origin = origin
        self._context_headers()

    def _context_headers(self) -> None:
        self.set_header("X-Request-ID", self.request_id)
        if self._cors_origin is not None:
            self.set_header("Access-Control-Allow-Origin", self._cors_origin)
            self.set_header("Access-Control-Expose-Headers", _CORS_EXPOSE)
            self.set_header("Vary", "Origin")

    def set_default_headers(self) -> None:
        # send_error() clears the headers; the request id and CORS must survive it.
        if self.request_id:
            self._context_headers()

    # -- checks before the body is read ----------------------------------------------------

    def prepare(self) -> None:
        self._context()
        method = self.request.method or "GET"
        if method == "OPTIONS":
            return
        operation = self.route.operations.get(method)
        if operation is None:
            allowed = ", ".join(self.route.methods)
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"{method} is not allowed on {self.route.path}; use {allowed}",
                headers={"Allow": allowed},
            )
        state = self.state
        if operation.role is not None and (state.config.api_keys or state.limiter is not None):
            self._authorize(operation)
        limit = state.config.max_body_bytes
        set_max = getattr(self.request.connection, "set_max_body_size", None)
        if set_max is not None:
            # A chunked body over the limit is read (and dropped) up to twice the limit, so
            # most get a 413; beyond that tornado closes the connection.
            set_max(2 * limit + 65536)
        if method not in _BODY_METHODS:
            return
        headers = self.request.headers
        length = headers.get("Content-Length")
        if length is None:
            if "Transfer-Encoding" not in headers:
                return
        elif length.strip() in ("", "0"):
            return
        content_type = headers.get("Content-Type")
        if not is_json_content_type(content_type):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"The body must be JSON (Content-Type: application/json), not "
                f"{content_type or 'untyped'}",
            )
        if length is not None and length.isdigit() and int(length) > limit:
            raise _too_large(limit)

    def _authorize(self, operation: Operation) -> None:
        assert operation.role is not None
        config = self.state.config
        token = bearer_token(self.request.headers.get("Authorization"))
        found = identify(token, config.api_keys) if token is not None and config.api_keys else None
        limiter = self.state.limiter
        if limiter is not None:
            client = found[0] if found is not None else "ip:" + (self.request.remote_ip or "")
            wait = limiter.take(client)
            if wait:
                raise ApiError(
                    429,
                    "RateLimited",
                    f"Too many requests from this client; retry after {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        if not config.api_keys:
            return
        if token is None:
            raise ApiError(
                401,
                "Unauthorized",
                "This endpoint needs an API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="constellation"'},
            )
        if found is None:
            raise ApiError(
                401,
                "Unauthorized",
                "The API key is not valid; check the key the service was configured with",
                headers={"WWW-Authenticate": 'Bearer realm="constellation", error="invalid_token"'},
            )
        role = found[1]
        if not allows(role, operation.role):
            raise ApiError(
                403,
                "Forbidden",
                f"A '{role}' key cannot {self.request.method} {self.route.path}; "
                f"it needs a '{operation.role}' key",
            )

    # -- the body --------------------------------------------------------------------------

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size > self.state.config.max_body_bytes:
            self._too_large = True
            self._chunks.clear()
        else:
            self._chunks.append(chunk)

    def fields(self, known: Collection[str], *, required: bool = False) -> Fields:
        """The JSON object body, checked for size, depth and unknown fields."""
        config = self.state.config
        if self._too_large:
            raise _too_large(config.max_body_bytes)
        raw = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        if not raw.strip():
            if required:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"{self.request.method} {self.route.path} needs a JSON object body with "
                    f"the fields: {', '.join(known)}",
                )
            return Fields({}, known)
        return Fields(parse_json(raw, config.max_json_depth), known)

    # -- answers ---------------------------------------------------------------------------

    def reply(self, body: object, status: int = 200) -> None:
        if status != 200:
            self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(encode(body))

    def options(self, *args: str, **kwargs: str) -> None:
        """CORS preflight: allowed origins get the headers (204), others a 403."""
        origin = self.request.headers.get("Origin")
        allowed = ", ".join((*self.route.methods, "OPTIONS"))
        self.set_header("Allow", allowed)
        if origin is not None:
            if self._cors_origin is None:
                raise ApiError(
                    403,
                    "CorsForbidden",
                    f"The origin {origin} is not in this service's CORS allow-list "
                    "(CONSTELLATION_CORS_ORIGINS)",
                )
            self.set_header("Access-Control-Allow-Methods", allowed)
            self.set_header("Access-Control-Allow-Headers", _CORS_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._context()
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        extra: dict[str, object] = {}
        if isinstance(error, ApiError):
            code, message = error.code, error.message
            extra.update(error.extra)
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif isinstance(error, tornado.web.HTTPError):
            code = STATUS_CODES.get(status_code, "Error")
            message = error.log_message or self._reason or f"HTTP {status_code}"
            if status_code == 405:
                message = f"{self.request.method} is not allowed on {self.route.path}"
                self.set_header("Allow", ", ".join(self.route.methods))
        else:
            code = "InternalError"
            message = (
                "The service failed while answering; the error is logged with request id "
                f"{self.request_id}"
            )
        self.set_header("Content-Type", "application/json")
        self.finish(encode(error_body(code, message, self.request_id, extra)))

    def on_finish(self) -> None:
        self.state.metrics.request(
            self.request.method or "GET",
            self.route.path,
            self.get_status(),
            self.request.request_time(),
        )


#: Request ids: a random prefix per process and a counter (unique, and no syscall per request).
_ID_PREFIX = uuid.uuid4().hex[:16]
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PayloadTooLarge",
        f"The body is larger than the limit of {limit} bytes (max_body_bytes)",
    )


class NotFoundHandler(ApiHandler):
    """Every path no route matches: a 404 in the error shape."""

    def prepare(self) -> None:
        self._context()
        raise ApiError(
            404,
            "NotFound",
            f"No endpoint at {self.request.path}; see /openapi.json for the routes",
        )
