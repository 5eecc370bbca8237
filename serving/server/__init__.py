"""`seqlab serve`: TensorFlow Serving's REST and gRPC APIs over exported SavedModels.

A development and test server that is wire-compatible with `tensorflow_model_server`: the same routes,
JSON formats, protos, status codes and messages (read from tensorflow/serving's sources), the same
`models.config` and batching parameters files. Production serves the same files with the
`tensorflow/serving` image.

    errors.py        ServingError: a TF Serving status code + message, and its HTTP / gRPC codes
    config.py        the server's options, models.config loading, version policies
    servable.py      one loaded SavedModel version: signatures, metadata, warmup replay
    manager.py       versions per model (load, poll, unload by policy), labels, status
    tensors.py       TensorProto <-> numpy (typed fields, as TF Serving's AsProtoField)
    json_codec.py    the REST JSON <-> tensors (TF Serving's json_tensor.cc rules and messages)
    predict.py       request validation and running a signature (shared by REST and gRPC)
    batching.py      TF Serving-style batching of concurrent requests
    metrics.py       request counts and latency, Prometheus text
    rest.py          the aiohttp REST handler
    grpc_services.py PredictionService and ModelService
    app.py           wiring, signals, graceful drain

Example:

>>> from serving.server.app import serve
>>> serve(ServerOptions(model_config_file="seqlab_runs/serving/models.config"))  # doctest: +SKIP
"""
