"""Screen untrusted ONNX bytes before onnxruntime sees them. Standard library only.

A device agent receives model bytes from the network and must run on a board with
only onnxruntime and numpy installed, so the ``onnx`` package is not available to
inspect them. This module walks the protobuf wire format of ``ModelProto`` just far
enough to answer two questions:

* is this a protobuf message with the shape of an ONNX model (an ``ir_version`` and a
  ``graph``)? If not, it is refused as "not an ONNX model";
* does any tensor anywhere (initialisers, sparse initialisers, node attributes,
  subgraphs, functions, training graphs) store its data externally? External data is
  a file path, or onnxruntime's in-memory address tag, inside the model: loading it
  would make the runtime read files or memory the sender chose. Such models are refused.

Field numbers are those of ``onnx/onnx.proto`` (IR version 10 and earlier ones, which
kept them stable).
"""

from __future__ import annotations

from collections.abc import Iterator

from hwsearch.errors import InvalidModelError

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_MAX_DEPTH = 64  # nested subgraphs deeper than this are refused rather than recursed into

# message name -> {field number: message name} for the fields that can lead to a TensorProto.
_NESTED: dict[str, dict[int, str]] = {
    "Model": {7: "Graph", 20: "TrainingInfo", 25: "Function"},
    "TrainingInfo": {1: "Graph", 2: "Graph"},
    "Graph": {1: "Node", 5: "Tensor", 15: "SparseTensor"},
    "Node": {5: "Attribute"},
    "Function": {7: "Node", 11: "Attribute"},
    "Attribute": {5: "Tensor", 6: "Graph", 10: "Tensor", 11: "Graph", 22: "SparseTensor", 23: "SparseTensor"},
    "SparseTensor": {1: "Tensor", 2: "Tensor"},
    "Tensor": {},
}
_TENSOR_EXTERNAL_DATA = 13
_TENSOR_DATA_LOCATION = 14
_LOCATION_EXTERNAL = 1
_MODEL_IR_VERSION = 1
_MODEL_GRAPH = 7


def _varint(data: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or oversized varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, value or payload start, payload end)`` of one message."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
            yield number, wire, value, pos
        elif wire == _I64:
            pos += 8
            yield number, wire, pos - 8, pos
        elif wire == _I32:
            pos += 4
            yield number, wire, pos - 4, pos
        elif wire == _LEN:
            length, pos = _varint(data, pos, end)
            yield number, wire, pos, pos + length
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("field runs past the end of its message")


def _walk(data: memoryview, start: int, end: int, kind: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidModelError(f"the ONNX model nests subgraphs deeper than {_MAX_DEPTH} levels", value=depth)
    nested = _NESTED[kind]
    for number, wire, first, last in _fields(data, start, end):
        if kind == "Tensor":
            external = (number == _TENSOR_EXTERNAL_DATA and wire == _LEN) or (
                number == _TENSOR_DATA_LOCATION and wire == _VARINT and first == _LOCATION_EXTERNAL
            )
            if external:
                raise InvalidModelError(
                    "the ONNX model refers to external tensor data",
                    value="external_data",
                    hint="send a self-contained model with every weight inside it",
                )
        elif number in nested and wire == _LEN:
            _walk(data, first, last, nested[number], depth + 1)


def check_onnx_bytes(model_bytes: bytes) -> None:
    """Raise :class:`InvalidModelError` unless ``model_bytes`` look like a self-contained ONNX model.

    This is a screen, not a full validation: onnxruntime still parses and checks the
    model when it builds the session, and refuses what is wrong in other ways.
    """
    if not isinstance(model_bytes, (bytes, bytearray, memoryview)):
        raise InvalidModelError("an ONNX model must be bytes", value=type(model_bytes).__name__)
    data = memoryview(model_bytes)
    if len(data) == 0:
        raise InvalidModelError("the ONNX model is empty", value=0)
    seen: set[int] = set()
    try:
        for number, wire, _, _ in _fields(data, 0, len(data)):
            if (number, wire) in ((_MODEL_IR_VERSION, _VARINT), (_MODEL_GRAPH, _LEN)):
                seen.add(number)
        if seen != {_MODEL_IR_VERSION, _MODEL_GRAPH}:
            raise ValueError("no ir_version or no graph")
        _walk(data, 0, len(data), "Model", 0)
    except InvalidModelError:
        raise
    except (ValueError, IndexError) as exc:
        raise InvalidModelError(
            f"the bytes do not parse as an ONNX model ({exc})", value=f"{len(data)} bytes", hint="send a .onnx file"
        ) from None
