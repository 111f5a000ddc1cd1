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


# ----- the CNN profile: what a network from this tool (or a plain exported CNN) can contain -----

ALLOWED_OPS = frozenset({
    "Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Add", "Sub", "Mul", "Div", "GlobalAveragePool", "AveragePool", "MaxPool", "Flatten", "Reshape", "Gemm",
    "MatMul", "Identity", "Dropout", "Softmax", "Concat", "Transpose", "Squeeze", "Unsqueeze",
})  # fmt: skip
MAX_INPUT_ELEMENTS = 64 * 1024 * 1024  # of all graph inputs together: 256 MB of float32
MAX_DIM = 65_536
MAX_ATTRIBUTE_INT = 65_536  # kernel sizes, strides, pads, dilations, groups, axes

_GRAPH_NODE, _GRAPH_INPUT = 1, 11
_NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 4, 5, 7
_ATTR_NAME, _ATTR_I, _ATTR_G, _ATTR_INTS, _ATTR_GRAPHS = 1, 3, 6, 8, 11
_MODEL_FUNCTIONS, _MODEL_TRAINING = 25, 20
_VALUE_TYPE, _TYPE_TENSOR, _TENSOR_TYPE_SHAPE, _SHAPE_DIM, _DIM_VALUE, _DIM_PARAM = 2, 1, 2, 1, 1, 2


def _message(data: memoryview, first: int, last: int) -> list[tuple[int, int, int, int]]:
    return list(_fields(data, first, last))


def _text(data: memoryview, first: int, last: int) -> str:
    return bytes(data[first:last]).decode("utf-8", errors="replace")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value  # int64 varints of negative numbers


def _packed_ints(data: memoryview, first: int, last: int) -> Iterator[int]:
    pos = first
    while pos < last:
        value, pos = _varint(data, pos, last)
        yield _signed(value)


def _refuse(reason: str, value: object) -> InvalidModelError:
    return InvalidModelError(
        f"the ONNX model is outside what this agent runs: {reason}",
        value=value,
        hint="send a CNN exported by hwsearch, or start the agent with --allow-any-model for your own networks",
    )


def _check_node(data: memoryview, first: int, last: int) -> None:
    op, domain = "", ""
    attributes = []
    for number, wire, a, b in _message(data, first, last):
        if number == _NODE_OP_TYPE and wire == _LEN:
            op = _text(data, a, b)
        elif number == _NODE_DOMAIN and wire == _LEN:
            domain = _text(data, a, b)
        elif number == _NODE_ATTRIBUTE and wire == _LEN:
            attributes.append((a, b))
    if domain not in ("", "ai.onnx"):
        raise _refuse(f"operator {op!r} of domain {domain!r} (only the standard domain is run)", domain)
    if op not in ALLOWED_OPS:
        raise _refuse(f"operator {op!r} (allowed: {', '.join(sorted(ALLOWED_OPS))})", op)
    for a, b in attributes:
        name = ""
        for number, wire, first_, last_ in _message(data, a, b):
            if number == _ATTR_NAME and wire == _LEN:
                name = _text(data, first_, last_)
            elif number in (_ATTR_G, _ATTR_GRAPHS):
                raise _refuse(f"a subgraph in attribute {name!r} of {op} (control flow)", name)
            elif number in (_ATTR_I, _ATTR_INTS):
                values = [_signed(first_)] if wire == _VARINT else list(_packed_ints(data, first_, last_))
                if any(abs(v) > MAX_ATTRIBUTE_INT for v in values):
                    raise _refuse(f"attribute {op}.{name} = {values} (at most {MAX_ATTRIBUTE_INT} in size)", values)


def _input_elements(data: memoryview, first: int, last: int) -> int:
    """Elements of one graph input, refusing a shape that is not static and bounded."""
    name, dims = "?", []
    for number, wire, a, b in _message(data, first, last):
        if number == 1 and wire == _LEN:
            name = _text(data, a, b)
        elif number == _VALUE_TYPE and wire == _LEN:
            for n2, w2, a2, b2 in _message(data, a, b):
                if n2 != _TYPE_TENSOR or w2 != _LEN:
                    raise _refuse(f"input {name!r} is not a tensor", name)
                for n3, w3, a3, b3 in _message(data, a2, b2):
                    if n3 == _TENSOR_TYPE_SHAPE and w3 == _LEN:
                        dims += [_dim(data, a4, b4, name) for n4, w4, a4, b4 in _message(data, a3, b3)
                                 if n4 == _SHAPE_DIM and w4 == _LEN]  # fmt: skip
    total = 1
    for d in dims:
        total *= d
    return total


def _dim(data: memoryview, first: int, last: int, name: str) -> int:
    for number, wire, value, _ in _message(data, first, last):
        if number == _DIM_VALUE and wire == _VARINT:
            size = _signed(value)
            if not 1 <= size <= MAX_DIM:
                raise _refuse(f"input {name!r} has a dimension of {size} (1 to {MAX_DIM})", size)
            return size
        if number == _DIM_PARAM:
            raise _refuse(f"input {name!r} has a symbolic dimension (shapes must be static)", name)
    raise _refuse(f"input {name!r} has a dimension without a size", name)


def check_cnn_model(model_bytes: bytes) -> None:
    """Raise :class:`InvalidModelError` unless ``model_bytes`` stay within the CNN profile.

    On top of :func:`check_onnx_bytes`: no local functions or training graphs, no control flow
    (no subgraph attributes), only :data:`ALLOWED_OPS` of the standard domain, integer attributes
    within :data:`MAX_ATTRIBUTE_INT`, and graph inputs of static shapes holding at most
    :data:`MAX_INPUT_ELEMENTS` elements together. What such a model computes is bounded by its
    input, its weights and its attributes, so it cannot ask for unbounded memory or time.
    """
    check_onnx_bytes(model_bytes)
    data = memoryview(model_bytes)
    try:
        graph = None
        for number, wire, first, last in _message(data, 0, len(data)):
            if number == _MODEL_FUNCTIONS:
                raise _refuse("local functions", "functions")
            if number == _MODEL_TRAINING:
                raise _refuse("training graphs", "training_info")
            if number == _MODEL_GRAPH and wire == _LEN:
                graph = (first, last)
        assert graph is not None  # check_onnx_bytes found one
        elements = 0
        for number, wire, first, last in _message(data, *graph):
            if number == _GRAPH_NODE and wire == _LEN:
                _check_node(data, first, last)
            elif number == _GRAPH_INPUT and wire == _LEN:
                elements += _input_elements(data, first, last)
        if elements > MAX_INPUT_ELEMENTS:
            raise _refuse(f"inputs of {elements:,} elements (at most {MAX_INPUT_ELEMENTS:,})", elements)
    except InvalidModelError:
        raise
    except (ValueError, IndexError) as exc:
        raise InvalidModelError(
            f"the bytes do not parse as an ONNX model ({exc})", value=f"{len(data)} bytes"
        ) from None
