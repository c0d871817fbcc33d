"""Rewrites a float16 export so its linear layers multiply in float16.

Our float16 exports store weights in fp16 but compute in fp32: each linear layer is
``MatMul(x, Cast(W16 -> f32))``, so onnxruntime either widens the weights on every call or keeps
fp32 copies of them; either way a GPU reads twice the weight bytes and runs fp32 (TF32) matrix
products. Here each such MatMul
becomes ``Cast(MatMul(Cast(x -> f16), W16) -> f32)``: the weights stay fp16, the product runs on
fp16 tensor cores (accumulating in fp32 on CUDA), and everything else — norms, attention scores,
softmax, recurrent state updates — stays in fp32 as before. The activations entering a linear layer
are rounded to fp16, which is where the logits move (about 1e-2 on the fixtures).
"""

from __future__ import annotations

from typing import Dict, List

from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, helper

SUFFIX = "/fp16_matmul"


def half_matmuls(model: ModelProto) -> int:
    """Rewrites ``model`` in place (top-level graph only); returns how many MatMuls changed."""
    graph = model.graph
    fp16_weights = {i.name for i in graph.initializer if i.data_type == TensorProto.FLOAT16}
    producers: Dict[str, NodeProto] = {o: n for n in graph.node for o in n.output}
    changed = 0
    rewritten: List[NodeProto] = []
    for node in graph.node:
        weight_cast = producers.get(node.input[1]) if node.op_type == "MatMul" else None
        if (
            weight_cast is None
            or weight_cast.op_type != "Cast"
            or weight_cast.input[0] not in fp16_weights
            or _cast_to(weight_cast) != TensorProto.FLOAT
        ):
            rewritten.append(node)
            continue
        base = (node.name or node.output[0]) + SUFFIX
        x16, y16 = f"{base}/x16", f"{base}/y16"
        rewritten.append(helper.make_node("Cast", [node.input[0]], [x16], name=f"{base}/cast_in",
                                          to=TensorProto.FLOAT16))
        rewritten.append(helper.make_node("MatMul", [x16, weight_cast.input[0]], [y16], name=f"{base}/matmul"))
        rewritten.append(helper.make_node("Cast", [y16], [node.output[0]], name=f"{base}/cast_out",
                                          to=TensorProto.FLOAT))
        changed += 1
    del graph.node[:]
    graph.node.extend(rewritten)
    _drop_unused(graph)
    return changed


def _cast_to(node: NodeProto) -> int:
    return next(a.i for a in node.attribute if a.name == "to")


def _drop_unused(graph: GraphProto) -> None:
    """Removes nodes whose outputs nothing reads any more (the weights' widening Casts)."""
    while True:
        read = {o.name for o in graph.output} | set(_subgraph_reads(graph))
        keep = [n for n in graph.node if any(o in read for o in n.output)]
        if len(keep) == len(graph.node):
            return
        del graph.node[:]
        graph.node.extend(keep)


def _subgraph_reads(graph: GraphProto):
    """Every value name a node of ``graph`` or of its nested subgraphs reads."""
    for n in graph.node:
        yield from n.input
        for a in n.attribute:
            if a.type == AttributeProto.GRAPH:
                yield from _subgraph_reads(a.g)
