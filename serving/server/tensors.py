"""TensorProto <-> numpy. Outputs go into the typed fields (`float_val`, `string_val`, ...), as TF Serving's
`Tensor::AsProtoField`, which is what official clients read (`tf.make_ndarray` reads both forms).

Example:

>>> proto = to_tensor_proto(np.array([b"a", b"b"], dtype=object))
>>> list(proto.string_val), [d.size for d in proto.tensor_shape.dim]
([b'a', b'b'], [2])
"""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.server.errors import ServingError

# numpy dtype -> (DataType enum, TensorProto field)
TENSOR_FIELDS = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
    np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
    np.dtype(np.int16): (types_pb2.DT_INT16, "int_val"),
    np.dtype(np.int8): (types_pb2.DT_INT8, "int_val"),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
    np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    np.dtype(np.uint32): (types_pb2.DT_UINT32, "uint32_val"),
    np.dtype(np.uint64): (types_pb2.DT_UINT64, "uint64_val"),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, "bool_val"),
}


def dtype_name(dtype: int) -> str:
    """TensorFlow's DataTypeString: DT_STRING -> 'string'."""
    return types_pb2.DataType.Name(dtype)[3:].lower()


def to_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """A numpy output -> TensorProto with typed fields (bytes/str arrays become DT_STRING)."""
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel())
        return proto
    if array.dtype not in TENSOR_FIELDS:
        raise ServingError.internal(f"Unsupported output dtype: {array.dtype}")
    proto.dtype, field = TENSOR_FIELDS[array.dtype]
    getattr(proto, field).extend(array.ravel().tolist())
    return proto


def from_tensor_proto(proto: tensor_pb2.TensorProto, alias: str) -> np.ndarray:
    """A request TensorProto -> numpy (tensor_content or typed fields); INVALID_ARGUMENT if it cannot be read."""
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception:  # noqa: BLE001  (any malformed proto is the client's error)
        raise ServingError.invalid_argument(f"tensor parsing error: {alias}") from None
