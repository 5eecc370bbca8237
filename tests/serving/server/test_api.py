"""`seqlab serve` against TF Serving's documented behaviour: a plain HTTP client and the official gRPC stubs
(`PredictionServiceStub`, `ModelServiceStub`) on loopback, for every task family's export.

Expected messages and codes are tensorflow/serving's (http_rest_api_handler.cc, http_rest_api_util.cc,
http_server.cc, json_tensor.cc, predict_util.cc, server_core.cc, basic_manager.cc, get_model_status_impl.cc,
classifier.cc / regressor.cc).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                     regression_pb2)

from tests.serving.server.exports import FAMILIES

INPUT = {"translation": "text", "classification": "text", "tagging": "text", "language_model": "prompt"}
OUTPUTS = {"translation": ["log_probability", "score", "translation"], "classification": ["label", "probabilities"],
           "tagging": ["length", "tags", "tokens"], "language_model": ["num_tokens", "text"]}
TEXTS = ["march 3 , 1998", "tuesday", ""]


def http(server, method: str, path: str, body: bytes | str | None = None) -> tuple[int, dict | str]:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(server.rest + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
    channel.close()


def grpc_predict(stub, model, inputs, version=None, label=None, signature="", output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return stub.Predict(request, timeout=60)


# ---- status and metadata ----

def test_model_status_rest_json_and_grpc(server, stubs):
    status, body = http(server, "GET", "/v1/models/classification")
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    status, body = http(server, "GET", "/V1/Models/translation/versions/2")  # paths match case-insensitively
    assert status == 200 and [v["version"] for v in body["model_version_status"]] == ["2"]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "translation"
    response = stubs[1].GetModelStatus(request, timeout=30)
    assert [(v.version, v.state) for v in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE), (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


@pytest.mark.parametrize("family", FAMILIES)
def test_metadata_rest_and_grpc(server, stubs, family):
    status, body = http(server, "GET", f"/v1/models/{family}/metadata")
    assert status == 200
    latest = 2 if family == "translation" else 1  # translation serves versions 1 and 2
    assert body["model_spec"] == {"name": family, "signature_name": "", "version": str(latest)}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert list(signature["inputs"]) == [INPUT[family]]
    assert signature["inputs"][INPUT[family]]["dtype"] == "DT_STRING"
    assert sorted(signature["outputs"]) == OUTPUTS[family]
    assert signature["method_name"] == "tensorflow/serving/predict"
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = family
    response = stubs[0].GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert sorted(signatures.signature_def["serving_default"].outputs) == OUTPUTS[family]
    assert response.model_spec.version.value == latest


# ---- predict: row, columnar, gRPC ----

@pytest.mark.parametrize("family", FAMILIES)
def test_predict_row_columnar_and_grpc_agree(server, stubs, family):
    signature = "score" if family == "language_model" else "serving_default"  # serving_default samples
    outputs = ["log_likelihood", "num_tokens", "perplexity"] if family == "language_model" else OUTPUTS[family]
    name = "text"
    status, rows = http(server, "POST", f"/v1/models/{family}:predict",
                        json.dumps({"signature_name": signature, "instances": TEXTS}))
    assert status == 200, rows
    assert [sorted(r) for r in rows["predictions"]] == [outputs] * len(TEXTS)
    status, columns = http(server, "POST", f"/v1/models/{family}:predict",
                           json.dumps({"signature_name": signature, "inputs": {name: TEXTS}}))
    assert status == 200, columns
    assert sorted(columns["outputs"]) == outputs
    for key in outputs:
        assert [r[key] for r in rows["predictions"]] == columns["outputs"][key]
    response = grpc_predict(stubs[0], family, {name: TEXTS}, signature=signature)
    assert response.model_spec.name == family and response.model_spec.version.value == (
        2 if family == "translation" else 1)
    for key in outputs:
        proto = response.outputs[key]
        assert not proto.tensor_content  # typed fields, as TF Serving's AsProtoField
        assert proto.string_val or proto.float_val or proto.int_val
        got = tf.make_ndarray(proto)
        want = columns["outputs"][key]
        if got.dtype == object:
            assert [[s.decode() for s in r] if isinstance(r, np.ndarray) else r.decode() for r in got] == want
        else:
            np.testing.assert_allclose(got, np.array(want, dtype=got.dtype), rtol=1e-6)


@pytest.mark.parametrize("signature,outputs", [("translate", ["log_probabilities", "scores", "translations"]),
                                               ("align", ["attention", "source_tokens", "tokens"])])
def test_translation_n_best_and_align_signatures(server, stubs, signature, outputs):
    body = {"signature_name": signature, "inputs": {"text": TEXTS}}
    status, columns = http(server, "POST", "/v1/models/translation:predict", json.dumps(body))
    assert status == 200, columns
    assert sorted(columns["outputs"]) == outputs
    response = grpc_predict(stubs[0], "translation", {"text": TEXTS}, signature=signature, output_filter=outputs[:1])
    assert list(response.outputs) == outputs[:1]
    got = tf.make_ndarray(response.outputs[outputs[0]])
    assert got.shape[0] == len(TEXTS)
    if signature == "align":  # [batch, T, S] weights; an emitted token's row sums to 1 over a non-empty source
        weights = np.array(columns["outputs"]["attention"])
        np.testing.assert_allclose(got, weights, rtol=1e-6)
        emitted = np.array([[t != "" for t in row] for row in columns["outputs"]["tokens"]])
        emitted &= np.array([any(row) for row in columns["outputs"]["source_tokens"]])[:, None]
        np.testing.assert_allclose(weights.sum(-1)[emitted], 1.0, rtol=1e-5)
    else:
        assert [row[0] for row in columns["outputs"]["translations"]] == http(
            server, "POST", "/v1/models/translation:predict", json.dumps({"inputs": {"text": TEXTS}})
        )[1]["outputs"]["translation"]


def test_language_model_serving_default_and_generate(server, stubs):
    status, body = http(server, "POST", "/v1/models/language_model:predict", json.dumps({"instances": ["ab", "c"]}))
    assert status == 200 and [sorted(r) for r in body["predictions"]] == [["num_tokens", "text"]] * 2
    request = {"signature_name": "generate",
               "inputs": {"prompt": ["ab"], "max_new_tokens": 3, "temperature": 0.5, "top_k": 0, "seed": 7}}
    first = http(server, "POST", "/v1/models/language_model:predict", json.dumps(request))
    assert first[0] == 200 and first == http(server, "POST", "/v1/models/language_model:predict",
                                             json.dumps(request))
    assert first[1]["outputs"]["num_tokens"] == [3]


def test_b64_inputs_and_single_output_unnamed(server, stubs):
    status, plain = http(server, "POST", "/v1/models/classification:predict", json.dumps({"instances": ["abc"]}))
    status_b64, b64 = http(server, "POST", "/v1/models/classification:predict",
                           json.dumps({"instances": [{"b64": "YWJj"}]}))
    assert status == status_b64 == 200 and plain == b64
    # output_filter to one output: written unnamed (gRPC answers only that output)
    response = grpc_predict(stubs[0], "classification", {"text": ["abc"]}, output_filter=["label"])
    assert list(response.outputs) == ["label"]
    assert [v.decode() for v in response.outputs["label"].string_val] == [plain["predictions"][0]["label"]]


def test_version_and_label_routing(server, stubs):
    body = json.dumps({"instances": ["abc"]})
    for path in ("/v1/models/translation/versions/1:predict", "/v1/models/translation/versions/2:predict",
                 "/v1/models/translation/labels/stable:predict"):
        assert http(server, "POST", path, body)[0] == 200
    assert grpc_predict(stubs[0], "translation", {"text": ["a"]}).model_spec.version.value == 2  # latest
    assert grpc_predict(stubs[0], "translation", {"text": ["a"]}, version=1).model_spec.version.value == 1
    assert grpc_predict(stubs[0], "translation", {"text": ["a"]}, label="stable").model_spec.version.value == 1


# ---- errors: TF Serving's codes and messages ----

SPEC_ERRORS = [
    ("POST", "/v1/models/nope:predict", '{"instances": ["a"]}', 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/classification/versions/9:predict", '{"instances": ["a"]}', 404,
     "Servable not found for request: Specific(classification, 9)"),
    ("POST", "/v1/models/classification/labels/canary:predict", '{"instances": ["a"]}', 400,
     "Unrecognized servable version label: canary"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/classification/versions/9", None, 404, "Could not find version 9 of model classification"),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("PUT", "/v1/models/classification", "", 400, "Malformed request: PUT /v1/models/classification"),
    ("GET", "/v1/models/classification:predict", None, 400,
     "Malformed request: GET /v1/models/classification:predict"),
]
BODY_ERRORS = [
    ('{"signature_name": "nope", "instances": ["a"]}', 'Serving signature name: "nope" not found in signature def'),
    ('{"signature_name": 3, "instances": ["a"]}',
     "JSON Value: {\n    \"signature_name\": 3,\n    \"instances\": [\"a\"]\n} not formatted correctly. "
     "'signature_name' key must be a string value."),
    ("", "JSON Parse error: The document is empty"),
    ("{bad", "JSON Parse error: Missing a name for object member. at offset: 1"),
    ("[1]", "JSON Value: [1] Is not object"),
    ('{"instances": [1]}', "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
     "JSON Value: 1 Type: Number is not of expected type: string"),
    ('{"inputs": [true]}', "JSON Value: true Type: True is not of expected type: string"),
    ('{"instances": [{"b64": "!!"}]}', "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
     "Unable to base64 decode"),
    ('{"instances": [{"text": "a", "extra": "b"}]}', "Failed to process element: 0 key: extra of 'instances' list. "
     "Error: INVALID_ARGUMENT: JSON object: does not have named input: extra"),
    ('{"instances": [{}]}', "Failed to process element: 0 of 'instances' list. JSON object: {} keys must be equal to: text"),
    ('{"inputs": {"other": ["a"]}}', "Missing named input: text in 'inputs' object."),
    ('{"instances": []}', "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array"),
    ('{"instances": "a"}', "JSON Value: {\n    \"instances\": \"a\"\n} Expecting 'instances' to be an list/array"),
    ('{"instances": ["a"], "inputs": ["a"]}', "JSON Value: {\n    \"instances\": [\"a\"],\n    \"inputs\": [\"a\"]\n} "
     "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "),
    ('{"text": ["a"]}', "Missing 'inputs' or 'instances' key"),
    ('{"instances": [["a", "b"], ["c"]]}', "Failed to process element: 1 of 'instances' list. Error: "
     "INVALID_ARGUMENT: Expecting tensor size: 2 but got: 1"),
    ('{"inputs": [["a", "b"], "c"]}', "JSON Value: \"c\" found at incorrect level: 2 in the JSON DOM. "
     "Expected at level: 2"),
]


@pytest.mark.parametrize("method,path,body,code,message", SPEC_ERRORS)
def test_rest_model_spec_errors(server, method, path, body, code, message):
    assert http(server, method, path, body) == (code, {"error": message})


@pytest.mark.parametrize("body,message", BODY_ERRORS)
def test_rest_request_body_errors(server, body, message):
    assert http(server, "POST", "/v1/models/classification:predict", body) == (400, {"error": message})


def test_rest_multi_input_signature_errors(server):
    path = "/v1/models/language_model:predict"
    assert http(server, "POST", path, '{"signature_name": "generate", "instances": ["a"]}') == (400, {
        "error": "instances is a plain list, but expecting list of objects as multiple input tensors required as "
                 "per tensorinfo_map"})
    assert http(server, "POST", path, '{"signature_name": "generate", "inputs": ["a"]}') == (400, {
        "error": "inputs is a plain value/list, but expecting an object as multiple input tensors required as "
                 "per tensorinfo_map"})


def _grpc_error(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_grpc_errors(server, stubs):
    predict = stubs[0]
    assert _grpc_error(lambda: grpc_predict(predict, "nope", {"text": ["a"]})) == (
        grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"]}, version=7)) == (
        grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(translation, 7)")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"]}, label="x")) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: x")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"]}, signature="nope")) == (
        grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.')
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {})) == (
        grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 0!=1 len({}) != len({text}). "
        "Sent extra: {}. Missing but required: {text}.")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"], "x": ["b"]})) == (
        grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 2!=1 len({text,x}) != len({text}). "
        "Sent extra: {x}. Missing but required: {}.")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"x": ["b"]})) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "input tensor alias not found in signature: x. Inputs expected to be in the set {text}.")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": np.array([1.0], np.float32)})) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expects arg[0] to be string but float is provided")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"]}, output_filter=["nope"])) == (
        grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found in signature: nope Outputs expected to be "
        "in the set {log_probability,score,translation}.")
    assert _grpc_error(lambda: grpc_predict(predict, "translation", {"text": ["a"]},
                                            output_filter=["score", "score"])) == (
        grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias: score")
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    assert _grpc_error(lambda: stubs[1].GetModelStatus(request, timeout=30)) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope")
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "translation"
    assert _grpc_error(lambda: predict.GetModelMetadata(request, timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field")


def test_classify_and_regress_on_predict_signatures(server, stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "translation"
    request.input.example_list.examples.add()
    assert _grpc_error(lambda: stubs[0].Classify(request, timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expected one or two output Tensors, found 3")
    request.model_spec.name = "classification"
    code, message = _grpc_error(lambda: stubs[0].Classify(request, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("No classification inputs found in SignatureDef: inputs {\n  key: \"text\"")
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "classification"
    request.input.example_list.examples.add()
    assert _grpc_error(lambda: stubs[0].Regress(request, timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expected one output Tensor.")
    assert http(server, "POST", "/v1/models/tagging:regress", '{"examples": [{}]}') == (
        400, {"error": "Expected one output Tensor."})
    assert http(server, "POST", "/v1/models/tagging:classify", '{"instances": [{}]}') == (
        400, {"error": "JSON Value: {\n    \"instances\": [{}]\n} When method is classify, key 'examples' is expected "
                       "and was not found"})


def test_request_size_limit_and_metrics(server):
    from tests.serving.server.conftest import MAX_REQUEST_BYTES

    body = json.dumps({"instances": ["a" * MAX_REQUEST_BYTES]})
    status, answer = http(server, "POST", "/v1/models/classification:predict", body)
    assert status == 413 and "larger than the limit" in answer["error"]
    assert http(server, "POST", "/v1/models/classification:predict", '{"instances": ["a"]}')[0] == 200
    status, text = http(server, "GET", "/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count{model_name="classification",status="OK"}' in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="classification",API="predict",entrypoint="REST"' \
        in text
    assert "process_resident_memory_bytes" in text
    assert http(server, "GET", "/v2/models/x")[0] == 404
