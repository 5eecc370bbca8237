"""TF Serving's REST API on aiohttp: the routes, methods and answers of `http_rest_api_handler.cc`.

    GET  /v1/models/NAME[/versions/N | /labels/L]             model status (GetModelStatus as JSON)
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata    signature defs
    POST /v1/models/NAME[/versions/N | /labels/L]:predict     row or columnar JSON
    POST ...:classify | :regress                              TF Serving's error for our signatures
    GET  /monitoring/prometheus/metrics                       Prometheus text

Paths match case-insensitively; errors are `{"error": message}` with the HTTP status of TF Serving's
status mapping. Work runs on a thread pool; a body over `max_request_bytes` is 413.

Example:

>>> app = make_app(core, metrics, options)  # doctest: +SKIP
>>> web.run_app(app, host="127.0.0.1", port=8501)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import grpc
from aiohttp import web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving.server import json_codec
from serving.server.config import ServerOptions
from serving.server.errors import ServingError
from serving.server.metrics import Metrics
from serving.server.predict import Core, input_specs

logger = logging.getLogger(__name__)

HANDLED_PATH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.IGNORECASE)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE)
JSON_HEADERS = {"Content-Type": "application/json"}


def model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    """ParseModelInfo + FillModelSpecWithNameVersionAndLabel (the regexes allow only one of version/label)."""
    spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name, errors="surrogateescape"))
    if version:
        try:
            value = int(version)
            if value >= 2**63:
                raise ValueError
        except ValueError:
            raise ServingError.invalid_argument(f"Failed to convert version: {version} to numeric.") from None
        spec.version.value = value
    if label:
        spec.version_label = urllib.parse.unquote(label, errors="surrogateescape")
    return spec


def _status_json(response: get_model_status_pb2.GetModelStatusResponse) -> str:
    return json_format.MessageToJson(response, indent=1, always_print_fields_with_no_presence=True)


def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> str:
    """ToJsonString(GetModelMetadataResponse): model_spec and the unpacked signature_def map, proto names."""
    options = dict(indent=1, always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return ('{\n"model_spec":' + json_format.MessageToJson(response.model_spec, **options) + ",\n"
            '"metadata": {"signature_def": ' + json_format.MessageToJson(signature_map, **options) + "}\n}\n")


class RestHandler:
    """Turns (method, path, body) into (ServingError or None, JSON text, model name, api)."""

    def __init__(self, core: Core):
        self.core = core

    def process(self, method: str, path: str, body: bytes) -> tuple[ServingError | None, str, str, str]:
        model, api = "", ""
        try:
            if method == "POST" and (match := PREDICTION_PATH.fullmatch(path)):
                name, version, label, api = match.groups()
                api = api.lower()
                spec = model_spec(name, version, label)
                model = spec.name
                if api == "predict":
                    return None, self.predict(spec, body), model, api
                self._classify_or_regress(spec, body, api)
            elif method == "GET" and (match := STATUS_PATH.fullmatch(path)):
                name, version, label, sub = match.groups()
                if not name:
                    raise ServingError.invalid_argument("Missing model name in request.")
                spec = model_spec(name, version, label)
                model, api = spec.name, "metadata" if sub else "status"
                if sub:
                    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec,
                                                                             metadata_field=["signature_def"])
                    return None, _metadata_json(self.core.metadata(request)), model, api
                request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
                return None, _status_json(self.core.status(request)), model, api
            raise ServingError.invalid_argument(f"Malformed request: {method} {path}")
        except ServingError as exc:
            return exc, json_codec.error_json(exc.message), model, api
        except Exception as exc:  # noqa: BLE001  (never a crash for one request)
            logger.exception("Unexpected error for %s %s", method, path)
            error = ServingError.internal(str(exc) or type(exc).__name__)
            return error, json_codec.error_json(error.message), model, api

    def predict(self, spec: model_pb2.ModelSpec, body: bytes) -> str:
        doc = json_codec.parse_json(body)
        signature_name = json_codec.signature_name(doc)
        servable = self.core.resolve(spec)
        signature = self.core.rest_signature(servable, signature_name)
        specs = input_specs(signature)
        if not specs:
            raise ServingError.invalid_argument(
                f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
        fmt, inputs = json_codec.tensors_from_json(doc, specs)
        name = signature_name or "serving_default"
        self.core.check_input_count(signature, inputs.keys())
        outputs = self.core.run(servable, name, inputs)
        return json_codec.json_from_tensors(outputs, fmt)

    def _classify_or_regress(self, spec: model_pb2.ModelSpec, body: bytes, api: str) -> None:
        doc = json_codec.parse_json(body)
        spec.signature_name = json_codec.signature_name(doc)
        examples = doc.get("examples")  # FillClassifyRegressRequestFromJson's checks
        if "examples" not in doc:
            raise ServingError.invalid_argument(f"JSON Value: {json_codec.debug_string(doc)} When method is classify, "
                                                "key 'examples' is expected and was not found")
        if not isinstance(examples, list):
            raise ServingError.invalid_argument(
                f"JSON Value: {json_codec.debug_string(doc)} Expecting 'examples' value to be an list/array")
        if not examples:
            raise ServingError.invalid_argument(
                f"JSON Value: {json_codec.debug_string(doc)} 'examples' value is an empty array")
        self.core.classify_or_regress(spec, api)


def make_app(core: Core, metrics: Metrics, options: ServerOptions) -> web.Application:
    """The aiohttp application; handlers run `RestHandler.process` on a thread pool."""
    handler = RestHandler(core)
    pool = ThreadPoolExecutor(max_workers=options.rest_api_num_threads, thread_name_prefix="rest")
    timeout = options.rest_api_timeout_in_ms / 1000 if options.rest_api_timeout_in_ms > 0 else None

    async def handle(request: web.Request) -> web.Response:
        path = request.raw_path.split("?", 1)[0]
        if path == options.monitoring_path and request.method == "GET":
            return web.Response(text=metrics.prometheus_text(), content_type="text/plain")
        if not HANDLED_PATH.fullmatch(path):
            return web.Response(status=404, text="Not Found")
        if request.method == "OPTIONS":
            if re.search(r"https?://", request.headers.get("Origin", "")):
                return web.Response(status=200, headers=JSON_HEADERS)
            error = ServingError.failed_precondition("Origin header is missing in CORS preflight")
            return web.Response(status=error.http_status, text=json_codec.error_json(error.message),
                                headers=JSON_HEADERS)
        start = time.perf_counter()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            error = ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                 f"Request body is larger than the limit of {options.max_request_bytes} bytes")
            metrics.record("", "", "REST", error.code.name, 0.0)
            return web.Response(status=413, text=json_codec.error_json(error.message), headers=JSON_HEADERS)
        work = asyncio.get_running_loop().run_in_executor(pool, handler.process, request.method, path, body)
        try:
            error, text, model, api = await asyncio.wait_for(asyncio.shield(work), timeout)
        except asyncio.TimeoutError:
            error = ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            text, model, api = json_codec.error_json(error.message), "", ""
        metrics.record(model, api, "REST", error.code.name if error else "OK", (time.perf_counter() - start) * 1e6)
        return web.Response(status=error.http_status if error else 200, text=text, headers=JSON_HEADERS)

    app = web.Application(client_max_size=options.max_request_bytes)
    app.router.add_route("*", "/{tail:.*}", handle)

    async def close_pool(_app: web.Application) -> None:
        pool.shutdown(wait=True)

    app.on_cleanup.append(close_pool)
    return app
