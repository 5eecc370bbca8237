"""TF Serving's gRPC services on the official `tensorflow_serving.apis` servicers.

    PredictionService   Predict (output_filter, typed output fields), GetModelMetadata, Classify and Regress
                        (TF Serving's errors for a predict signature), MultiInference (UNIMPLEMENTED)
    ModelService        GetModelStatus, HandleReloadConfigRequest

Example:

>>> server = grpc.server(ThreadPoolExecutor(16))  # doctest: +SKIP
>>> add_services(server, core, metrics)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, model_management_pb2, prediction_service_pb2_grpc

from serving.server.errors import ServingError
from serving.server.metrics import Metrics
from serving.server.predict import Core

logger = logging.getLogger(__name__)


class _Servicer:
    """A servicer's core and metrics; `_call` answers a ServingError with its status and records every call."""

    def __init__(self, core: Core, metrics: Metrics):
        self.core, self.metrics = core, metrics

    def _call(self, api: str, request, context: grpc.ServicerContext, fn: Callable[[], object]):
        name, start = request.model_spec.name, time.perf_counter()
        try:
            response = fn()
        except ServingError as exc:
            self.metrics.record(name, api, "GRPC", exc.code.name, 0.0)
            context.abort(exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001  (never a crash for one request)
            logger.exception("Unexpected error in %s", api)
            self.metrics.record(name, api, "GRPC", "INTERNAL", 0.0)
            context.abort(grpc.StatusCode.INTERNAL, str(exc) or type(exc).__name__)
        self.metrics.record(name, api, "GRPC", "OK", (time.perf_counter() - start) * 1e6)
        return response


class PredictionService(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    def Predict(self, request, context):
        return self._call("Predict", request, context, lambda: self.core.predict(request))

    def GetModelMetadata(self, request, context):
        return self._call("GetModelMetadata", request, context, lambda: self.core.metadata(request))

    def Classify(self, request, context):
        return self._call("Classify", request, context,
                          lambda: self.core.classify_or_regress(request.model_spec, "classify"))

    def Regress(self, request, context):
        return self._call("Regress", request, context,
                          lambda: self.core.classify_or_regress(request.model_spec, "regress"))

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not served by seqlab serve")


class ModelService(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    def GetModelStatus(self, request, context):
        return self._call("GetModelStatus", request, context, lambda: self.core.status(request))

    def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.manager.reload_config(request.config)
        except ServingError as exc:
            logger.error("ReloadConfig failed: %s", exc.message)
            response.status.error_code = exc.code.value[0]
            response.status.error_message = exc.message
            context.set_code(exc.code)
            context.set_details(exc.message)
        return response


def add_services(server: grpc.Server, core: Core, metrics: Metrics) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(core, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core, metrics), server)
