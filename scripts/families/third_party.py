"""Exports as other tools write them, for the harness's tests of graphs it did not write.

    python3 scripts/families/third_party.py SRC_DIR OUT_DIR NAME   (needs only the onnx package)

onnxruntime-genai's model builder and optimum exports with an attention-mask subgraph build the
causal mask as a [S, S] square (S = new tokens) and Expand it to [B, 1, S, past + S]. ONNX
broadcasting accepts that only when past = 0 or S = 1, so such a graph rejects several new tokens
after a non-empty past ("invalid expand shape"): chunked prefill and continuation scoring from a
shared state fail on it, while a whole prompt and one-token decoding work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
from onnx import TensorProto, helper


def restrict_to_one_token_after_past(src: Path, out: Path, name: str) -> None:
    """Copies the model directory ``src`` to ``out`` with that square-mask Expand added to its graph.

    The Expand's result (zeros) is reduced and added to the logits, so every call the original
    accepts gives the same logits, and every call with past > 0 and S > 1 fails inside onnxruntime
    as it does on those exports.
    """
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("reference"))
    model = onnx.load(str(src / "model.onnx"))
    graph = model.graph
    logits = next(o for o in graph.output if o.name == "logits")
    inner = "logits_before_mask_check"
    for node in graph.node:
        node.output[:] = [inner if o == "logits" else o for o in node.output]
    ints = lambda n, v: helper.make_tensor(n, TensorProto.INT64, [len(v)], v)  # noqa: E731
    graph.initializer.extend([ints("sq_zero", [0]), ints("sq_one", [1]), ints("sq_axes01", [0, 1])])
    graph.node.extend([
        helper.make_node("Shape", ["input_ids"], ["sq_ids_shape"]),
        helper.make_node("Shape", ["attention_mask"], ["sq_mask_shape"]),
        helper.make_node("Gather", ["sq_ids_shape", "sq_zero"], ["sq_batch"], axis=0),
        helper.make_node("Gather", ["sq_ids_shape", "sq_one"], ["sq_new"], axis=0),
        helper.make_node("Gather", ["sq_mask_shape", "sq_one"], ["sq_total"], axis=0),
        helper.make_node("Concat", ["sq_new", "sq_new"], ["sq_square_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["sq_square_shape"], ["sq_square"],
                         value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("Concat", ["sq_batch", "sq_one", "sq_new", "sq_total"], ["sq_target"], axis=0),
        helper.make_node("Expand", ["sq_square", "sq_target"], ["sq_mask"]),
        helper.make_node("ReduceSum", ["sq_mask"], ["sq_sum"], keepdims=0),
        helper.make_node("Cast", ["sq_sum"], ["sq_sum_cast"], to=logits.type.tensor_type.elem_type),
        helper.make_node("Add", [inner, "sq_sum_cast"], ["logits"]),
    ])
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "model.onnx"))
    sidecar = json.loads((out / "kvbench.json").read_text())
    sidecar["name"] = name
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 4:
        sys.exit("usage: third_party.py SRC_DIR OUT_DIR NAME")
    restrict_to_one_token_after_past(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
