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


def write_merged_decoder(out: Path) -> None:
    """A stand-in for optimum's merged decoders: a `use_cache_branch` input next to one KV state.

    Its logits are 1 where the graph was told to use the cache and 0 otherwise, so a test can see
    what the harness fed; `present.0.key` appends the current ids to the past.
    """
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "total_sequence_length"])
    branch = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    past = helper.make_tensor_value_info(
        "past_key_values.0.key", TensorProto.FLOAT, ["batch_size", 1, "past_sequence_length", 1]
    )
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", 1])
    present = helper.make_tensor_value_info(
        "present.0.key", TensorProto.FLOAT, ["batch_size", 1, "total_sequence_length", 1]
    )
    axes2 = helper.make_tensor("axes2", TensorProto.INT64, [1], [2])
    axes13 = helper.make_tensor("axes13", TensorProto.INT64, [2], [1, 3])
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["use_cache_branch"], ["branch_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "branch_f"], ["flags"]),
        helper.make_node("Unsqueeze", ["flags", "axes2"], ["logits"]),
        helper.make_node("Unsqueeze", ["ids_f", "axes13"], ["new_key"]),
        helper.make_node("Concat", ["past_key_values.0.key", "new_key"], ["present.0.key"], axis=2),
    ]
    graph = helper.make_graph(nodes, "merged_decoder", [ids, mask, branch, past], [logits, present],
                              initializer=[axes2, axes13, zero])
    _save(graph, out)
