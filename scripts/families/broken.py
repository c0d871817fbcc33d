"""Deliberately broken ONNX graphs for the harness's bad-input tests."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def _save(graph, path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="kvbench")
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))


def write(out: Path) -> None:
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    as_logits = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_f", "axes"], ["out"]),
    ]

    # A graph whose output is not called "logits".
    scores = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch_size", "sequence_length", 1])
    _save(helper.make_graph(as_logits, "no_logits", [ids, mask], [scores], initializer=[axes]), out / "no_logits")

    # A state input with no matching present output.
    past = helper.make_tensor_value_info(
        "past_key_values.0.key", TensorProto.FLOAT, ["batch_size", 1, "past_sequence_length", 4]
    )
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", 1])
    nodes = as_logits[:1] + [helper.make_node("Unsqueeze", ["ids_f", "axes"], ["logits"])]
    _save(helper.make_graph(nodes, "unpaired_state", [ids, mask, past], [logits], initializer=[axes]),
          out / "unpaired_state")
