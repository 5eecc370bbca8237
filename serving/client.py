"""Clients for a TF Serving endpoint (`seqlab serve` or the tensorflow/serving image): REST and gRPC.

Example:

>>> RestClient("localhost:8501").predict("dates", ["3 March 1998"])  # doctest: +SKIP
[{'log_probability': -0.01, 'score': -0.01, 'translation': '1998-03-03'}]
>>> GrpcClient("localhost:8500").predict("dates", {"text": ["3 March 1998"]})["translation"]  # doctest: +SKIP
array([b'1998-03-03'], dtype=object)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping, Sequence

from serving.predict import example_rows


class ServingClientError(Exception):
    """An error answer: `status` (HTTP status or gRPC code name) and TF Serving's message."""

    def __init__(self, status: int | str, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def _model_path(model: str, version: int | None, label: str | None) -> str:
    path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{urllib.parse.quote(label, safe='')}"
    return path


class RestClient:
    """TF Serving's REST API over HTTP/1.1 (standard library only)."""

    def __init__(self, address: str, timeout: float = 60.0):
        self.base = address if address.startswith("http") else f"http://{address}"
        self.timeout = timeout

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method="GET" if body is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                message = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                message = text
            raise ServingClientError(exc.code, message) from None

    def status(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._request(_model_path(model, version, label))

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._request(_model_path(model, version, label) + "/metadata")

    def predict(self, model: str, instances: Sequence[Any] | None = None, inputs: Any = None,
                version: int | None = None, label: str | None = None, signature_name: str | None = None) -> Any:
        """Row format (`instances`) returns `predictions`; columnar (`inputs`) returns `outputs`."""
        body: dict[str, Any] = {"instances": list(instances)} if inputs is None else {"inputs": inputs}
        if signature_name:
            body["signature_name"] = signature_name
        answer = self._request(_model_path(model, version, label) + ":predict", body)
        return answer["predictions"] if inputs is None else answer["outputs"]


class GrpcClient:
    """TF Serving's PredictionService and ModelService through the official stubs."""

    def __init__(self, address: str, timeout: float = 60.0):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", -1)])
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.timeout = timeout

    @staticmethod
    def _spec(spec, model: str, version: int | None, label: str | None, signature_name: str | None = None):
        spec.name = model
        if version is not None:
            spec.version.value = version
        elif label is not None:
            spec.version_label = label
        if signature_name:
            spec.signature_name = signature_name

    def predict(self, model: str, inputs: Mapping[str, Any], version: int | None = None, label: str | None = None,
                signature_name: str | None = None, output_filter: Sequence[str] = ()) -> dict:
        """Numpy outputs by name (strings as bytes)."""
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        self._spec(request.model_spec, model, version, label, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        try:
            response = self.prediction.Predict(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ServingClientError(exc.code().name, exc.details()) from None
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def status(self, model: str, version: int | None = None):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, None)
        return self.models.GetModelStatus(request, timeout=self.timeout)

    def close(self) -> None:
        self.channel.close()


def predict_texts(address: str, model: str, texts: Sequence[str], protocol: str = "rest",
                  version: int | None = None, label: str | None = None) -> list[dict[str, Any]]:
    """`serving_default` on raw texts through a server; one dict per text, as `serving.predict.predict`."""
    rest = RestClient(address)
    if protocol == "grpc":
        import grpc
        from tensorflow_serving.apis import get_model_metadata_pb2

        client = GrpcClient(address)
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        client._spec(request.model_spec, model, version, label)
        try:
            meta = client.prediction.GetModelMetadata(request, timeout=client.timeout)
        except grpc.RpcError as exc:
            raise ServingClientError(exc.code().name, exc.details()) from None
        signatures = get_model_metadata_pb2.SignatureDefMap()
        meta.metadata["signature_def"].Unpack(signatures)
        (input_name,) = signatures.signature_def["serving_default"].inputs
        out = client.predict(model, {input_name: list(texts)}, version, label)
        client.close()
    else:
        meta = rest.metadata(model, version, label)
        (input_name,) = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
        rows = rest.predict(model, list(texts), version=version, label=label)
        named = bool(rows) and isinstance(rows[0], dict)  # one unnamed output: a plain value per row
        out = {name: [row[name] for row in rows] for name in rows[0]} if named else {"output": rows}
    return example_rows(input_name, texts, out)
