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

# absl::Status::ToString() prefixes, used where TF Serving nests one status's text in another's message.
CODE_NAMES = {code: code.name for code in grpc.StatusCode}


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
        """As absl::Status::ToString(): `INVALID_ARGUMENT: message`."""
        return f"{CODE_NAMES[self.code]}: {self.message}"

    @classmethod
    def invalid_argument(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.INVALID_ARGUMENT, message)

    @classmethod
    def not_found(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.NOT_FOUND, message)

    @classmethod
    def failed_precondition(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.FAILED_PRECONDITION, message)

    @classmethod
    def unavailable(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.UNAVAILABLE, message)

    @classmethod
    def unimplemented(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.UNIMPLEMENTED, message)

    @classmethod
    def internal(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.INTERNAL, message)
