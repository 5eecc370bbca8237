"""Predict, metadata and status, as TF Serving's PredictionService implementation does them; the REST
handler and the gRPC servicers both call this.

Checks and messages follow tensorflow/serving's `predict_util.cc` (signature, input count, aliases,
`output_filter`), `get_model_metadata_impl.cc`, `get_model_status_impl.cc`, and classifier/regressor
`PreProcess*` for Classify/Regress on a signature that is not a classify/regress one.

Example:

>>> core = Core(manager)  # doctest: +SKIP
>>> core.predict(request).outputs["translation"].string_val  # doctest: +SKIP
[b'1998-03-03']
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable, Mapping

import grpc
import numpy as np
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2, predict_pb2)

from serving.server.batching import Batcher
from serving.server.config import BatchingParameters
from serving.server.errors import ServingError
from serving.server.manager import ModelManager
from serving.server.servable import Servable
from serving.server.tensors import dtype_name, from_tensor_proto, to_tensor_proto

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF = "signature_def"


def input_specs(signature) -> dict[str, tuple[int, list[int] | None]]:
    """A SignatureDef's inputs: name -> (DataType, dims or None for unknown rank)."""
    return {name: (info.dtype, None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim])
            for name, info in signature.inputs.items()}


def _batchable(signature) -> bool:
    """Every input has a leading batch dimension (dim 0 unknown) and every output too."""
    infos = list(signature.inputs.values()) + list(signature.outputs.values())
    return all(not i.tensor_shape.unknown_rank and i.tensor_shape.dim and i.tensor_shape.dim[0].size == -1
               for i in infos)


def _op_error(exc: Exception) -> ServingError:
    """A TensorFlow runtime error -> the same canonical code and message."""
    code = getattr(exc, "error_code", None)
    message = getattr(exc, "message", None) or str(exc)
    by_value = {c.value[0]: c for c in grpc.StatusCode}
    return ServingError(by_value.get(code, grpc.StatusCode.INTERNAL), message.strip())


class Core:
    """Request processing over a ModelManager; `batching` (TF Serving's parameters) or None."""

    def __init__(self, manager: ModelManager, batching: BatchingParameters | None = None):
        self.manager = manager
        self.batching = batching
        self._lock = threading.Lock()

    # ---- model spec and signatures ----

    def resolve(self, spec: model_pb2.ModelSpec) -> Servable:
        choice = spec.WhichOneof("version_choice")
        return self.manager.resolve(spec.name, spec.version.value if choice == "version" else None,
                                    spec.version_label if choice == "version_label" else None)

    @staticmethod
    def rest_signature(servable: Servable, name: str):
        """GetInfoMap: the REST handler's signature lookup (INVALID_ARGUMENT)."""
        name = name or DEFAULT_SIGNATURE
        if name not in servable.signature_defs:
            raise ServingError.invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        return servable.signature_defs[name]

    # ---- predict ----

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        """The gRPC Predict: typed output fields, model_spec with the version that answered."""
        servable = self.resolve(request.model_spec)
        signature_name, signature = self.request_signature(servable, request)
        inputs = {}
        for alias, proto in request.inputs.items():
            if alias not in signature.inputs:
                raise ServingError.invalid_argument(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                    f"{{{','.join(sorted(signature.inputs))}}}.")
            inputs[alias] = from_tensor_proto(proto, alias)
        outputs = self.run(servable, signature_name, inputs, list(request.output_filter))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature_name
        for alias, array in outputs.items():
            response.outputs[alias].CopyFrom(to_tensor_proto(array))
        return response

    def request_signature(self, servable: Servable, request: predict_pb2.PredictRequest):
        """The gRPC Predict's signature lookup (FAILED_PRECONDITION), its input count checked: (name, signature)."""
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if name not in servable.signature_defs:
            raise ServingError.failed_precondition(f'Serving signature key "{name}" not found.')
        self.check_input_count(servable.signature_defs[name], request.inputs.keys())
        return name, servable.signature_defs[name]

    @staticmethod
    def check_input_count(signature, names: Iterable[str]) -> None:
        """VerifyRequestInputsSize."""
        sent, expected = set(names), set(signature.inputs)
        if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
            raise ServingError.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) "
                f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")

    def run(self, servable: Servable, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """Checks dtypes, shapes and `output_filter`, then runs the signature (batched when enabled)."""
        signature = servable.signature_defs[signature_name]
        for alias in output_filter or []:
            if alias not in signature.outputs:
                raise ServingError.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}.")
            if output_filter.count(alias) > 1:
                raise ServingError.invalid_argument(f"duplicate output tensor alias: {alias}")
        specs = input_specs(signature)
        names = sorted(specs)
        for alias, array in inputs.items():
            dtype, dims = specs[alias]
            expected = dtype_name(dtype)
            given = "string" if array.dtype == object or array.dtype.kind in "SU" else _numpy_name(array.dtype)
            if given != expected:
                raise ServingError.invalid_argument(
                    f"Expects arg[{names.index(alias)}] to be {expected} but {given} is provided")
            if dims is not None and (len(dims) != array.ndim or any(d not in (-1, s) for d, s in zip(dims, array.shape))):
                raise ServingError.invalid_argument(
                    f"The shape of input {alias} is [{','.join(map(str, array.shape))}], but the signature expects "
                    f"[{','.join('?' if d == -1 else str(d) for d in dims)}]")
        try:
            rows = {a.shape[0] for a in inputs.values()} if self.batching is not None and _batchable(signature) else ()
            if len(rows) == 1 and min(rows) > 0:  # one batch size, not 0
                outputs = self._batcher(servable, signature_name).submit(inputs).result()
            else:
                outputs = servable.run(signature_name, inputs)
        except ServingError:
            raise
        except Exception as exc:  # noqa: BLE001  (TensorFlow's runtime errors carry their canonical code)
            raise _op_error(exc) from None
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return outputs

    def _batcher(self, servable: Servable, signature_name: str) -> Batcher:
        with self._lock:
            batchers = servable.__dict__.setdefault("batchers", {})
            if signature_name not in batchers:
                batchers[signature_name] = Batcher(lambda inputs: servable.run(signature_name, inputs), self.batching)
                servable.__dict__.setdefault("on_close", []).append(batchers[signature_name].close)
            return batchers[signature_name]

    def warmup(self, servable: Servable) -> None:
        """Replays a version's warmup records through the same path requests take."""
        def run_request(request: predict_pb2.PredictRequest, target: Servable) -> None:
            name, _ = self.request_signature(target, request)
            self.run(target, name, {k: from_tensor_proto(v, k) for k, v in request.inputs.items()},
                     list(request.output_filter))

        servable.warmup(run_request)

    # ---- metadata and status ----

    def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
                 ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise ServingError.invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise ServingError.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF:
                raise ServingError.invalid_argument(f"Metadata field {field} is not supported")
        servable = self.resolve(request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in servable.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[SIGNATURE_DEF].Pack(signature_map)
        return response

    def status(self, request: get_model_status_pb2.GetModelStatusRequest
               ) -> get_model_status_pb2.GetModelStatusResponse:
        if not request.HasField("model_spec"):
            raise ServingError.invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        states = self.manager.version_states(spec.name)
        response = get_model_status_pb2.GetModelStatusResponse()
        if spec.HasField("version"):
            version = spec.version.value
            if version not in states:
                raise ServingError.not_found(f"Could not find version {version} of model {spec.name}")
            states = {version: states[version]}
        elif not states:
            raise ServingError.not_found(f"Could not find any versions of model {spec.name}")
        for version, state in sorted(states.items()):
            entry = response.model_version_status.add(version=version)
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
            entry.status.SetInParent()  # TF Serving always reports the health, OK included
            if state.error is not None:
                entry.status.error_code = state.error.code.value[0]
                entry.status.error_message = state.error.message
        return response

    # ---- classify / regress on predict signatures ----

    def classify_or_regress(self, spec: model_pb2.ModelSpec, method: str) -> None:
        """TF Serving's answer to Classify/Regress: the signature must be a classify/regress one."""
        servable = self.resolve(spec)
        name = spec.signature_name or DEFAULT_SIGNATURE
        if name not in servable.signature_defs:
            raise ServingError.invalid_argument(f"No signature was found with the name: {name}")
        signature = servable.signature_defs[name]
        key = "inputs"
        if len(signature.inputs) != 1:
            raise ServingError.invalid_argument("Expected one input Tensor.")
        if method == "classify":
            if len(signature.outputs) not in (1, 2):
                raise ServingError.invalid_argument(
                    f"Expected one or two output Tensors, found {len(signature.outputs)}")
            if key not in signature.inputs:
                raise ServingError.invalid_argument(f"No classification inputs found in SignatureDef: {signature}")
            raise ServingError.unimplemented("Classify on serialized tf.Examples is not served by seqlab serve")
        if len(signature.outputs) != 1:
            raise ServingError.invalid_argument("Expected one output Tensor.")
        if key not in signature.inputs:
            raise ServingError.invalid_argument(f"No regression inputs found in SignatureDef: {signature}")
        raise ServingError.unimplemented("Regress on serialized tf.Examples is not served by seqlab serve")


def _numpy_name(dtype: np.dtype) -> str:
    return {"float32": "float", "float64": "double", "bool": "bool"}.get(dtype.name, dtype.name)
