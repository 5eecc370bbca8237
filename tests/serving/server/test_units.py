"""Server parts without a server: models.config and version policies, batching parameters and the batcher,
the JSON codec's number and error formats, the warmup record."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.server import json_codec
from serving.server.batching import Batcher
from serving.server.config import (BatchingParameters, aspired_versions, batching_parameters_text,
                                   parse_batching_parameters, parse_model_server_config)
from serving.server.errors import ServingError


def _policy(text: str):
    policy = model_server_config_pb2.ModelConfig().model_version_policy
    text_format.Parse(text, policy)
    return policy


@pytest.mark.parametrize("policy,expected", [
    ("", [5]), ("latest { num_versions: 2 }", [3, 5]), ("all {}", [1, 3, 5]),
    ("specific { versions: 1 versions: 3 versions: 9 }", [1, 3])])
def test_version_policies(policy, expected):
    assert aspired_versions(_policy(policy), [5, 1, 3]) == expected


def test_models_config_checks():
    with pytest.raises(ValueError, match="Illegal to list model a multiple times"):
        parse_model_server_config('model_config_list { config { name: "a" base_path: "/a" } '
                                  'config { name: "a" base_path: "/b" } }')
    with pytest.raises(ValueError, match="not a ModelServerConfig"):
        parse_model_server_config("model_config_list { nope: 1 }")


def test_batching_parameters_round_trip():
    params = BatchingParameters(max_batch_size=8, batch_timeout_micros=500, allowed_batch_sizes=(2, 8),
                                pad_variable_length_inputs=True)
    assert parse_batching_parameters(batching_parameters_text(params)) == params
    with pytest.raises(ValueError, match="allowed_batch_sizes must be increasing and end with max_batch_size"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")


def test_batcher_pads_variable_length_strings_and_to_allowed_sizes():
    seen = []

    def run(inputs):
        seen.append(inputs["x"].shape)
        return {"y": inputs["x"]}

    batcher = Batcher(run, BatchingParameters(max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1,
                                              allowed_batch_sizes=(4,), pad_variable_length_inputs=True))
    a = batcher.submit({"x": np.array([[b"a"]], object)})
    b = batcher.submit({"x": np.array([[b"b", b"c"]], object)})
    assert a.result()["y"].tolist() == [[b"a", b""]]
    assert b.result()["y"].tolist() == [[b"b", b"c"]]
    assert seen == [(4, 2)]  # one batch, padded to the allowed size 4 and to the longest row
    too_big = batcher.submit({"x": np.zeros((5, 1), object)})
    with pytest.raises(ServingError, match="Task size 5 is larger than maximum input batch size 4"):
        too_big.result()
    batcher.close()


def test_batcher_without_padding_rejects_different_shapes():
    batcher = Batcher(lambda inputs: {"y": inputs["x"]},
                      BatchingParameters(max_batch_size=4, batch_timeout_micros=200_000, num_batch_threads=1))
    futures = [batcher.submit({"x": np.zeros((1, n), np.int32)}) for n in (1, 2)]
    with pytest.raises(ServingError, match="different shapes and padding is turned off"):
        futures[0].result()
    batcher.close()


@pytest.mark.parametrize("value,float32,text", [
    (0.1, True, "0.1"), (1.0, True, "1.0"), (1 / 3, True, "0.333333343"), (1e-7, True, "1e-07"),
    (float("nan"), True, "NaN"), (float("-inf"), True, "-Infinity"), (1 / 3, False, "0.33333333333333331")])
def test_decimals_read_back_the_same(value, float32, text):
    assert json_codec._decimal(np.float32(value) if float32 else value, float32) == text


def test_bytes_outputs_are_base64_and_one_output_is_unnamed():
    outputs = {"raw_bytes": np.array([b"\xff\x00"], object)}
    assert json_codec.json_from_tensors(outputs, "columnar") == '{\n    "outputs": [{"b64": "/wA="}]\n}'


def test_debug_strings_are_cut_at_256_bytes():
    text = json_codec.debug_string(["x" * 100] * 10)
    assert text.startswith('["' + "x" * 100) and 256 <= len(text) < 400


def test_warmup_record_is_an_official_prediction_log(tmp_path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving import warmup

    path = warmup.write_warmup(tmp_path, ["hi", "there"], model_name="dates")
    (record,) = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    log = prediction_log_pb2.PredictionLog.FromString(record)
    request = log.predict_log.request
    assert request.model_spec.name == "dates" and request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["text"]).tolist() == [b"hi", b"there"]


def test_layout_writes_models_config_for_the_container_and_batching_parameters(tmp_path):
    from serving import layout

    (tmp_path / "dates" / "1").mkdir(parents=True)
    config = parse_model_server_config(layout.models_config_text(tmp_path, "/models/"))
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [("dates", "/models/dates")]
    local = parse_model_server_config(layout.models_config_text(tmp_path))
    assert local.model_config_list.config[0].base_path == str((tmp_path / "dates").resolve())
    params = parse_batching_parameters(layout.write_batching_parameters(tmp_path).read_text())
    assert params.pad_variable_length_inputs and params.allowed_batch_sizes[-1] == params.max_batch_size
