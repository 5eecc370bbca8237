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


def _call(metrics: Metrics, api: str, name: str, context: grpc.ServicerContext, fn: Callable[[], object]):
    start = time.perf_counter()
    try:
        response = fn()
    except ServingError as exc:
        metrics.record(name, api, "GRPC", exc.code.name, 0.0)
        context.abort(exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001  (never a crash for one request)
        logger.exception("Unexpected error in %s", api)
        metrics.record(name, api, "GRPC", "INTERNAL", 0.0)
        context.abort(grpc.StatusCode.INTERNAL, str(exc) or type(exc).__name__)
    metrics.record(name, api, "GRPC", "OK", (time.perf_counter() - start) * 1e6)
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: Core, metrics: Metrics):
        self.core, self.metrics = core, metrics

    def Predict(self, request, context):
        return _call(self.metrics, "Predict", request.model_spec.name, context, lambda: self.core.predict(request))

    def GetModelMetadata(self, request, context):
        return _call(self.metrics, "GetModelMetadata", request.model_spec.name, context,
                     lambda: self.core.metadata(request))

    def Classify(self, request, context):
        return _call(self.metrics, "Classify", request.model_spec.name, context,
                     lambda: self.core.classify_or_regress(request.model_spec, "classify"))

    def Regress(self, request, context):
        return _call(self.metrics, "Regress", request.model_spec.name, context,
                     lambda: self.core.classify_or_regress(request.model_spec, "regress"))

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not served by seqlab serve")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: Core, metrics: Metrics):
        self.core, self.metrics = core, metrics

    def GetModelStatus(self, request, context):
        return _call(self.metrics, "GetModelStatus", request.model_spec.name, context,
                     lambda: self.core.status(request))

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
