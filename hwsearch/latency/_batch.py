"""Give a deployable model, whose batch axis is symbolic, the batch of 1 that latency is timed at."""

from __future__ import annotations

import onnx

from hwsearch.errors import InvalidModelError


def batch_one(model_bytes: bytes) -> tuple[bytes, bool]:
    """``model_bytes`` with a symbolic first axis of every graph input and output fixed at 1.

    Returns the bytes and whether anything changed. ``hwsearch export`` and ``hwsearch train``
    write models with a batch axis of any size, while a latency is one image's (batch 1) and
    the device agent runs only static shapes. Any other symbolic axis is left alone, so such a
    model is still refused by the timing code, naming its shape.
    """
    try:
        model = onnx.load_from_string(model_bytes)
    except Exception:  # protobuf raises several kinds; the timing code then says what is wrong
        return model_bytes, False
    changed = False
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1  # setting the value clears the symbolic name: one oneof field
            changed = True
    if not changed:
        return model_bytes, False
    try:
        return model.SerializeToString(deterministic=True), True
    except Exception as exc:  # a model protobuf cannot re-encode is not one to time
        raise InvalidModelError(f"cannot fix the model's batch axis: {exc}", value=len(model_bytes)) from None
