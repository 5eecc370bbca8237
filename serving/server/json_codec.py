"""The REST API's JSON <-> tensors, by the rules and messages of tensorflow/serving's `util/json_tensor.cc`.

Requests: `{"signature_name": ..., "instances": [...]}` (row format: one item per example, an object of
named inputs when the signature has several) or `{"inputs": ...}` (columnar: a value/list, or an object of
named inputs). Strings may be `{"b64": "..."}`. Responses: `{"predictions": [...]}` for rows,
`{"outputs": ...}` for columns; one output is written unnamed; strings as JSON strings, except outputs
named `*_bytes`, written as `{"b64": ...}`; floats in the shortest form that reads back the same.

Example:

>>> doc = parse_json(b'{"instances": ["a", {"b64": "Yg=="}]}')
>>> fmt, inputs = tensors_from_json(doc, {"text": (7, None)})
>>> fmt, inputs["text"].tolist()
('row', [b'a', b'b'])
>>> json_from_tensors({"label": np.array([b"x", b"y"], object)}, "row")
'{\\n    "predictions": [\\n        "x",\\n        "y"\\n    ]\\n}'
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Mapping

import numpy as np
from tensorflow.core.framework import types_pb2

from serving.server.errors import ServingError
from serving.server.tensors import TENSOR_FIELDS, dtype_name

MAX_DEBUG_BYTES = 256  # kMaxJsonDebugStringBytes
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_NUMPY = {enum: numpy_dtype.type for numpy_dtype, (enum, _) in TENSOR_FIELDS.items()}  # DT_STRING: object

_PARSE_ERRORS = {  # Python's json messages -> rapidjson's GetParseError_En
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Expecting ',' delimiter": "Missing a comma or '}' after an object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


# ---- debug strings (JsonValueToDebugString: a pretty writer, single-line arrays, cut at 256 bytes) ----

def _type_name(value: Any) -> str:
    """rapidjson's type of a parsed JSON value: Null, True, False, Object, Array, String or Number."""
    if value is None or isinstance(value, bool):
        return "Null" if value is None else str(value)
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value).replace("e+", "e")
    return str(value)


def debug_string(value: Any) -> str:
    """A JSON value as TF Serving quotes it in error messages."""
    out: list[str] = []
    size = [0]

    def emit(text: str) -> bool:
        if size[0] >= MAX_DEBUG_BYTES:
            return False
        out.append(text)
        size[0] += len(text.encode("utf-8", "surrogateescape"))
        return True

    def write(val: Any, indent: int) -> bool:  # False once the text is cut: nothing more is written
        if isinstance(val, dict):
            key_prefix = "\n" + " " * (indent + 4)
            return (emit("{") and all(emit(("," if i else "") + key_prefix + json.dumps(key, ensure_ascii=False) + ": ")
                                      and write(item, indent + 4) for i, (key, item) in enumerate(val.items()))
                    and emit(("\n" + " " * indent if val else "") + "}"))
        if isinstance(val, list):
            return (emit("[") and all((not i or emit(", ")) and write(item, indent) for i, item in enumerate(val))
                    and emit("]"))
        if val is None or isinstance(val, bool):
            return emit(json.dumps(val))
        if isinstance(val, str):
            return emit(json.dumps(val, ensure_ascii=False))
        return emit(_number(val))

    write(value, 0)
    return "".join(out)


# ---- requests ----

def parse_json(body: bytes) -> dict:
    """ParseJson: the body as a JSON object (trailing bytes after the value are ignored, NaN/Infinity read)."""
    if not body:
        raise ServingError.invalid_argument("JSON Parse error: The document is empty")
    text = body.decode("utf-8", "surrogateescape")
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise ServingError.invalid_argument(f"JSON Parse error: The document is empty at offset: {start}")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        message = next((v for k, v in _PARSE_ERRORS.items() if exc.msg.startswith(k)), "Invalid value.")
        if message.startswith("Missing a comma") and _inside_array(text, exc.pos):
            message = "Missing a comma or ']' after an array element."
        raise ServingError.invalid_argument(f"JSON Parse error: {message} at offset: {exc.pos}") from None
    except RecursionError:
        raise ServingError.invalid_argument("JSON Parse error: Invalid value. at offset: 0") from None
    if not isinstance(doc, dict):
        raise ServingError.invalid_argument(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def _inside_array(text: str, pos: int) -> bool:
    """Whether the innermost open bracket before `pos` is '[' (for rapidjson's comma message)."""
    depth = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth.append(char)
        elif char in "]}" and depth:
            depth.pop()
    return bool(depth) and depth[-1] == "["


def signature_name(doc: dict) -> str:
    """FillSignature: `signature_name` if present (must be a string); '' means serving_default."""
    if "signature_name" not in doc:
        return ""
    if not isinstance(doc["signature_name"], str):
        raise ServingError.invalid_argument(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key must be a string value.")
    return doc["signature_name"]


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: Any) -> bytes:
    if not _is_b64(value):
        raise ServingError.invalid_argument(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    text = value["b64"]
    try:
        # absl::Base64Unescape: standard or web-safe alphabet, padding optional.
        data = text.encode("ascii")
        if b"-" in data or b"_" in data:
            data = data.replace(b"-", b"+").replace(b"_", b"/")
        data = data.rstrip(b"=") if len(data) % 4 else data
        return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ServingError.invalid_argument("Unable to base64 decode") from None


def _type_error(value: Any, dtype: int) -> ServingError:
    return ServingError.invalid_argument(
        f"JSON Value: {debug_string(value)} Type: {_type_name(value)} is not of expected type: {dtype_name(dtype)}")


def _scalar(value: Any, dtype: int) -> Any:
    """AddValueToTensor: one JSON scalar checked against the input's dtype."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = is_int or isinstance(value, float)
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, dict):
            return _decode_b64(value)
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, dict):
        raise _type_error(value, dtype)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        ok = is_number
    elif dtype in (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8):
        ok = is_int and INT32[0] <= value <= INT32[1]
    elif dtype == types_pb2.DT_INT64:
        ok = is_int and INT64[0] <= value <= INT64[1]
    elif dtype == types_pb2.DT_BOOL:
        ok = isinstance(value, bool)
    elif dtype == types_pb2.DT_UINT32:
        ok = is_int and 0 <= value < 2**32
    elif dtype == types_pb2.DT_UINT64:
        ok = is_int and 0 <= value < 2**64
    else:
        raise ServingError.unimplemented(
            f"Conversion of JSON Value: {debug_string(value)} to type: {dtype_name(dtype)}")
    if not ok:
        raise _type_error(value, dtype)
    return value


def _dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: the shape read down the first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    """FillTensorProto: values in row-major order, every list as long as the shape says."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError.invalid_argument(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}")
        out.append(_scalar(value, dtype))
        return
    if level >= rank:
        raise ServingError.invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise ServingError.invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _array(values: list, shape: list[int], dtype: int) -> np.ndarray:
    array = np.empty(len(values), dtype=_NUMPY.get(dtype, object))
    array[:] = values
    return array.reshape(shape)


def _shape_string(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def tensors_from_json(doc: dict, input_specs: Mapping[str, tuple[int, Any]]) -> tuple[str, dict[str, np.ndarray]]:
    """FillPredictRequestFromJson after the signature lookup: ('row' | 'columnar', numpy inputs by name).

    `input_specs` maps the signature's input names to (DataType, shape) — only the dtype is used here.
    """
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise ServingError.invalid_argument(
            f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of 'inputs' or "
            "'instances' keys to exist ")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise ServingError.invalid_argument(
                f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise ServingError.invalid_argument(f"JSON Value: {debug_string(doc)} No values in 'instances' array")
        return "row", _from_instances(instances, input_specs)
    if has_inputs:
        return "columnar", _from_inputs(doc["inputs"], input_specs)
    raise ServingError.invalid_argument("Missing 'inputs' or 'instances' key")


def _from_instances(instances: list, specs: Mapping[str, tuple[int, Any]]) -> dict[str, np.ndarray]:
    def is_object(value: Any) -> bool:
        return isinstance(value, dict) and not _is_b64(value)

    if not isinstance(instances[0], dict) and len(specs) > 1:
        raise ServingError.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map")
    objects = is_object(instances[0])
    names = sorted(specs)
    values: dict[str, list] = {}
    shapes: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def add(item: Any, name: str) -> None:
        if name not in specs:
            raise ServingError.invalid_argument(f"JSON object: does not have named input: {name}")
        shape = _dense_shape(item)
        out: list = []
        _fill(item, 0, shape, specs[name][0], out)
        if name not in sizes:
            sizes[name], shapes[name] = len(out), shape
        elif sizes[name] != len(out):
            raise ServingError.invalid_argument(f"Expecting tensor size: {sizes[name]} but got: {len(out)}")
        elif shapes[name] != shape:
            raise ServingError.invalid_argument(
                f"Expecting shape {_shape_string(shapes[name])} but got: {_shape_string(shape)}")
        values.setdefault(name, []).extend(out)

    for index, element in enumerate(instances):
        if objects:
            if not is_object(element):
                raise ServingError.invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, item in element.items():
                try:
                    add(item, name)
                except ServingError as exc:
                    raise ServingError.invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. Error: "
                        f"{exc.status_string()}") from None
            if sorted(element) != names:
                raise ServingError.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {debug_string(element)} "
                    f"keys must be equal to: {','.join(names)}")
        else:
            if is_object(element):
                raise ServingError.invalid_argument(
                    f"Expecting value/list but got object at item {index} of input list")
            try:
                add(element, names[0])
            except ServingError as exc:
                raise ServingError.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {exc.status_string()}") from None
    return {name: _array(vals, [len(instances), *shapes[name]], specs[name][0]) for name, vals in values.items()}


def _from_inputs(value: Any, specs: Mapping[str, tuple[int, Any]]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64(value):
        if len(specs) > 1:
            raise ServingError.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map")
        ((name, (dtype, _)),) = specs.items()
        return {name: _columnar(value, dtype)}
    inputs = {}
    for name in sorted(specs):
        if name not in value:
            raise ServingError.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        inputs[name] = _columnar(value[name], specs[name][0])
    return inputs


def _columnar(value: Any, dtype: int) -> np.ndarray:
    shape = _dense_shape(value)
    out: list = []
    _fill(value, 0, shape, dtype, out)
    return _array(out, shape, dtype)


# ---- responses ----

def _decimal(value: float, float32: bool) -> str:
    """WriteDecimal: %.6g if it reads back the same, else max_digits10; always a '.' or an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%.6g" % value
    same = np.float32(float(text)) == np.float32(value) if float32 else float(text) == value
    if not same:
        text = "%.9g" % value if float32 else "%.17g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _values(array: np.ndarray, as_bytes: bool) -> list[str]:
    """Each element of an output, written as JSON text."""
    flat = array.ravel()
    if array.dtype == object or array.dtype.kind in "SU":
        if as_bytes:
            return ['{"b64": "' + base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode() + '"}'
                    for v in flat]
        return [json.dumps(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v), ensure_ascii=False)
                for v in flat]
    if array.dtype in (np.float16, np.float32, np.float64):
        return [_decimal(float(v), array.dtype != np.float64) for v in flat]
    if array.dtype == np.bool_:
        return ["true" if v else "false" for v in flat]
    if array.dtype.kind in "iu":
        return [str(int(v)) for v in flat.tolist()]
    raise ServingError.invalid_argument(f"Failed to write JSON value for tensor type: {array.dtype}")


def _nest(texts: list[str], shape: tuple[int, ...]) -> str:
    """Row-major texts -> a single-line nested JSON array of `shape` (a scalar when the shape is empty)."""
    return "[" + ", ".join(_rows(texts, shape)) + "]" if shape else texts[0]


def _rows(texts: list[str], shape: tuple[int, ...]) -> list[str]:
    """Row-major texts of `shape` -> one nested JSON text per item of the first axis."""
    step = int(np.prod(shape[1:]))
    return [_nest(texts[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def json_from_tensors(outputs: Mapping[str, np.ndarray], fmt: str) -> str:
    """MakeJsonFromTensors: `{"predictions": [...]}` (row) or `{"outputs": ...}` (columnar)."""
    if not outputs:
        raise ServingError.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    named = len(names) > 1
    arrays = {name: np.asarray(outputs[name]) for name in names}
    texts = {name: _values(arrays[name], name.endswith("_bytes") and arrays[name].dtype == object) for name in names}
    if fmt == "columnar":
        if not named:
            return '{\n    "outputs": ' + _nest(texts[names[0]], arrays[names[0]].shape) + "\n}"
        body = ",\n".join(f'        {json.dumps(n)}: {_nest(texts[n], arrays[n].shape)}' for n in names)
        return '{\n    "outputs": {\n' + body + "\n    }\n}"
    batch = None
    for name in names:
        if arrays[name].ndim == 0:
            raise ServingError.invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and arrays[name].shape[0] != batch:
            raise ServingError.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {arrays[name].shape[0]} expecting: {batch}")
        batch = arrays[name].shape[0]
    cells = {name: _rows(texts[name], arrays[name].shape) for name in names}  # per name, one text per row
    if named:
        rows = ["        {\n" + ",\n".join(f"            {json.dumps(n)}: {cells[n][item]}" for n in names)
                + "\n        }" for item in range(batch)]
    else:
        rows = ["        " + cell for cell in cells[names[0]]]
    return '{\n    "predictions": [' + ("\n" + ",\n".join(rows) + "\n    " if rows else "") + "]\n}"


def error_json(message: str) -> str:
    """MakeJsonFromStatus: `{"error": message}`."""
    return '{\n    "error": ' + json.dumps(message, ensure_ascii=False) + "\n}"
