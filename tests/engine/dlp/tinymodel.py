"""A tiny prompt-injection classifier built with onnx.helper, and its tokenizer.json built with `tokenizers`.

Shared by the engine tests, the end-to-end test and `make bench` (bench/mlbench.py); nothing is downloaded.
The graph is an embedding bag: Gather (+ a token-type embedding) -> mean over the tokens the attention mask
keeps -> MatMul -> logits of two labels (SAFE, INJECTION). Words in INJECTION_WORDS push towards INJECTION;
the made-up ones in MODEL_ONLY_WORDS are words no built-in heuristic knows, so only the model flags them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
MODEL_ONLY_WORDS = ("zorblax", "quuxify", "frobnicate", "snarfle", "blorp")
INJECTION_WORDS = ("ignore", "instructions", "system", "override", "reveal", "prompt", *MODEL_ONLY_WORDS)
BENIGN_WORDS = (
    "the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "release", "notes", "bug", "fixes",
    "weather", "today", "sunny", "report", "quarterly", "sales", "grew", "by", "percent", "meeting",
    "agenda", "page", "document", "summary", "table", "results", "please", "see", "below", "user",
)  # fmt: skip
LABELS = ("SAFE", "INJECTION")


def vocab() -> dict[str, int]:
    words = (*SPECIAL, *INJECTION_WORDS, *BENIGN_WORDS)
    return {w: i for i, w in enumerate(words)}


def tokenizer() -> Tokenizer:
    """WordLevel over whitespace words, lower-cased, `[CLS] ... [SEP]` around each sequence (as BERT does)."""
    v = vocab()
    tok = Tokenizer(models.WordLevel(v, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", v["[CLS]"]), ("[SEP]", v["[SEP]"])],
    )
    return tok


def graph(token_type_ids: bool = False, dtype: int = TensorProto.INT64) -> onnx.ModelProto:
    """The classifier: inputs input_ids, attention_mask (and token_type_ids) of `dtype`, output logits [B, 2]."""
    v = vocab()
    emb = np.zeros((len(v), 2), np.float32)
    for word, i in v.items():
        if word in INJECTION_WORDS:
            emb[i] = (0.0, 6.0)
        elif word not in ("[PAD]", "[CLS]", "[SEP]"):
            emb[i] = (1.0, 0.0)  # benign words and [UNK]
    inits = [
        numpy_helper.from_array(emb, "embedding"),
        numpy_helper.from_array(np.eye(2, dtype=np.float32), "weight"),
        numpy_helper.from_array(np.array([0.5, -0.5], np.float32), "bias"),
        numpy_helper.from_array(np.array([1], np.int64), "token_axis"),
        numpy_helper.from_array(np.array([2], np.int64), "last_axis"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_type_ids else [])
    inputs = [helper.make_tensor_value_info(n, dtype, ["batch", "sequence"]) for n in names]
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last_axis"], ["mask3"]),
    ]
    if token_type_ids:  # a token-type embedding of zeros: the input is used, the result unchanged
        inits.append(numpy_helper.from_array(np.zeros((2, 2), np.float32), "type_embedding"))
        nodes += [
            helper.make_node("Gather", ["type_embedding", "token_type_ids"], ["temb"]),
            helper.make_node("Add", ["emb", "temb"], ["emb_all"]),
        ]
    nodes += [
        helper.make_node("Mul", ["emb_all" if token_type_ids else "emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "token_axis"], ["total"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "token_axis"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["total", "count1"], ["mean"]),
        helper.make_node("MatMul", ["mean", "weight"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])
    g = helper.make_graph(nodes, "tiny_injection_classifier", inputs, [out], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    return model


def build(
    directory: Path,
    *,
    layout: str = "file",
    token_type_ids: bool = False,
    labels: tuple[str, ...] | None = LABELS,
    dtype: int = TensorProto.INT64,
) -> Path:
    """Write the model and its tokenizer under `directory`; returns what `injection.model` should name.

    layout "file": DIR/model.onnx + DIR/tokenizer.json, returns the .onnx file; "dir": the same files,
    returns DIR; "hf": DIR/onnx/model.onnx + DIR/tokenizer.json (a Hugging Face export), returns DIR.
    `labels` is written as config.json's id2label (None: no config.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    model_dir = directory / "onnx" if layout == "hf" else directory
    model_dir.mkdir(exist_ok=True)
    onnx.save(graph(token_type_ids, dtype), str(model_dir / "model.onnx"))
    tokenizer().save(str(directory / "tokenizer.json"))
    if labels is not None:
        config = {"id2label": {str(i): name for i, name in enumerate(labels)}, "model_type": "tiny"}
        (directory / "config.json").write_text(json.dumps(config))
    return model_dir / "model.onnx" if layout == "file" else directory


def words(n: int, vocabulary: tuple[str, ...] = BENIGN_WORDS) -> str:
    """`n` whitespace-separated words cycling through `vocabulary` (one token each)."""
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(n))
