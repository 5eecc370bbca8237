"""TF Serving's error statuses: a canonical code and a message, and how each API reports it.

REST answers `{"error": message}` with the HTTP status of `ToHTTPStatusCode` in tensorflow/serving's
`model_servers/http_server.cc`; gRPC answers the same code and message.

Example:

>>> err = ServingError.not_found("Servable not found for request: Latest(x)")
>>> err.http_status, err.code.name
(404, 'NOT_FOUND')
"""

from __future__ import annotations

import grpc

# absl::StatusCode -> HTTP, as http_server.cc's ToHTTPStatusCode.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _with_code(code: grpc.StatusCode) -> classmethod:
    """A constructor `ServingError.<code>(message)` of one status code."""
    return classmethod(lambda cls, message: cls(code, message))


class ServingError(Exception):
    """A TF Serving status that is not OK: `code` (a `grpc.StatusCode`) and `message`."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def status_string(self) -> str:
        """As absl::Status::ToString(), which TF Serving nests in other messages: `INVALID_ARGUMENT: message`."""
        return f"{self.code.name}: {self.message}"

    invalid_argument = _with_code(grpc.StatusCode.INVALID_ARGUMENT)
    not_found = _with_code(grpc.StatusCode.NOT_FOUND)
    failed_precondition = _with_code(grpc.StatusCode.FAILED_PRECONDITION)
    unavailable = _with_code(grpc.StatusCode.UNAVAILABLE)
    unimplemented = _with_code(grpc.StatusCode.UNIMPLEMENTED)
    internal = _with_code(grpc.StatusCode.INTERNAL)
