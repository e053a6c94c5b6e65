"""An optional local ONNX prompt-injection classifier (`injection.model`), loaded once per config and run in a
small bounded thread pool, never on the event loop; it needs the `[ml]` extra and never downloads anything.

Inputs are discovered (input_ids, attention_mask, token_type_ids; int64 or int32) and the first output (or the
one named `logits`) must be logits [batch, labels]. The score of a window is the softmax probability of the
injection label(s): `injection.model_label` if set, else every label of config.json's id2label named
injection / jailbreak / malicious / unsafe (their probabilities summed), else the last label; a model with one
output column is read through a sigmoid. A text longer than one window is split into windows of
`model_max_tokens` tokens (an eighth overlapping); beyond `model_max_windows`, the first max-1 and the last
are scored. The text's score is the highest window's.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jsonscan import STRING_RE, unescape

log = logging.getLogger("palaryn")

INSTALL_HINT = "pip install 'palaryn-proxy[ml]'"
INJECTION_LABELS = frozenset({"injection", "jailbreak", "malicious", "unsafe"})
QUEUE_FULL, TIMEOUT, ERROR = "queue_full", "timeout", "error"  # why the built-in score stood alone
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH = 8  # windows per session run
CHARS_PER_TOKEN = 8  # generous: text beyond windows x tokens x this is not tokenised
CACHE_TEXTS = 4096  # texts whose score is remembered (an agent retrying a turn re-sends its tool results)
_DTYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32"}

Window = tuple[list[int], list[int]]  # token ids, token type ids


class ModelError(ValueError):
    """The model or its files cannot be used; `key` is the config key to fix."""

    def __init__(self, message: str, key: str = "injection.model") -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class ModelFiles:
    model: Path
    tokenizer: Path
    config: Path | None  # config.json (id2label), when there is one


def _first(dirs: list[Path], name: str) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def find_files(configured: str) -> ModelFiles:
    """A .onnx file with tokenizer.json beside it, or a directory holding model.onnx or onnx/model.onnx (the
    layout of Hugging Face exports) and tokenizer.json; config.json is read from the same places."""
    path = Path(configured).expanduser().resolve()  # relative to the working directory
    if not path.exists():
        raise ModelError(
            f"{path} does not exist; name a .onnx file with tokenizer.json beside it, or a directory "
            "holding model.onnx (or onnx/model.onnx) and tokenizer.json"
        )
    if path.is_dir():
        model = _first([path, path / "onnx"], "model.onnx")
        if model is None:
            found = sorted(
                str(p.relative_to(path)) for p in [*path.glob("*.onnx"), *path.glob("onnx/*.onnx")]
            )
            hint = f" (found {', '.join(found[:4])}: name the file itself)" if found else ""
            raise ModelError(f"no model.onnx or onnx/model.onnx in {path}{hint}")
    elif path.suffix != ".onnx":
        raise ModelError(f"{path} is not a .onnx file; name the model file or the directory holding it")
    else:
        model = path
    dirs = [model.parent] + ([model.parent.parent] if model.parent.name == "onnx" else [])
    tokenizer = _first(dirs, "tokenizer.json")
    if tokenizer is None:
        raise ModelError(
            f"no tokenizer.json beside {model}; save the model's tokenizer there "
            "(tokenizer.save_pretrained(DIR) writes it)"
        )
    return ModelFiles(model, tokenizer, _first(dirs, "config.json"))


def _ml() -> tuple[Any, Any, Any]:
    try:
        import numpy
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise ModelError(
            f"needs the optional ML extra ({exc.name or 'onnxruntime'} is not installed): {INSTALL_HINT}"
        ) from None
    return onnxruntime, tokenizers, numpy


def load_classifier(
    files: ModelFiles, label: str | int | None, max_tokens: int, max_windows: int
) -> Classifier:
    """Load (or reuse: a reload re-reads the config) the classifier; files changed on disk load again."""
    _ml()
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size) for p in (files.model, files.tokenizer, files.config) if p
    )
    return _load(files, stamp, label, max_tokens, max_windows)


@functools.lru_cache(maxsize=2)  # the running config and a reload's
def _load(
    files: ModelFiles,
    stamp: tuple[tuple[int, int], ...],
    label: str | int | None,
    max_tokens: int,
    windows: int,
) -> Classifier:
    return Classifier(files, label, max_tokens, windows)


class Classifier:
    """A loaded model and tokenizer. `scores` is thread-safe: the pool's threads share one session, each run
    single-threaded (intra-op threads 1), so a busy proxy's threads are not oversubscribed."""

    def __init__(self, files: ModelFiles, label: str | int | None, max_tokens: int, max_windows: int) -> None:
        ort, tokenizers, self._np = _ml()
        self.files, self.max_tokens, self.max_windows = files, max_tokens, max_windows
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(files.model), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors derive from Exception alone
            raise ModelError(f"onnxruntime cannot load {files.model}: {exc}") from None
        self.inputs = _inputs(self.session)
        self.output = _output(self.session)
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(str(files.tokenizer))
        except Exception as exc:  # tokenizers raises a bare Exception
            raise ModelError(f"cannot read {files.tokenizer}: {exc}") from None
        content = max_tokens - self.tokenizer.num_special_tokens_to_add(False)
        self.tokenizer.enable_truncation(max_tokens, stride=content // 8)
        self.tokenizer.no_padding()
        self.pad_id = next(
            (i for t in ("[PAD]", "<pad>", "<PAD>") if (i := self.tokenizer.token_to_id(t)) is not None), 0
        )
        n = self._warm_up()
        names = _id2label(files.config)
        if names and len(names) != n:
            raise ModelError(f"{files.config} names {len(names)} labels but the model outputs {n}")
        self.labels = names or tuple(f"LABEL_{i}" for i in range(n))
        self.positive = _positive(self.labels, label)

    def describe(self) -> str:
        if len(self.labels) == 1:
            score = "the sigmoid of its one logit"
        else:
            score = "P(" + " + ".join(self.labels[i] for i in self.positive) + ")"
        return f"{self.files.model} (inputs {', '.join(self.inputs)}; score = {score})"

    def _warm_up(self) -> int:
        """One full-length window through the model: a wrong max length or output shows at load, not later."""
        ids = self.tokenizer.encode(" ".join(["a"] * self.max_tokens)).ids
        try:
            logits = self._logits([(ids, [0] * len(ids))])
        except Exception as exc:  # any failure here is a config error
            raise ModelError(
                f"the model fails on a {len(ids)}-token input ({exc}); "
                "lower injection.model_max_tokens to the model's maximum length"
            ) from None
        if logits.ndim != 2 or logits.shape[0] != 1:
            raise ModelError(f"output {self.output} has shape {list(logits.shape)}; expected [batch, labels]")
        return int(logits.shape[1])

    # -- windows and scores -------------------------------------------------------------------------------

    def windows(self, text: str) -> list[Window]:
        """Token windows of `text` with the model's special tokens, at most max_windows (head and tail)."""
        if not text.strip():
            return []
        head_n = max(1, self.max_windows - 1)
        budget = self.max_tokens * CHARS_PER_TOKEN
        if len(text) > budget * self.max_windows:  # tokenise only what can be scored
            head = self._encode(text[: budget * head_n])[:head_n]
            return head + (self._encode(text[-budget:])[-1:] if self.max_windows > 1 else [])
        found = self._encode(text)
        if len(found) <= self.max_windows:
            return found
        return found[:head_n] + (found[-1:] if self.max_windows > 1 else [])

    def _encode(self, text: str) -> list[Window]:
        enc = self.tokenizer.encode(text)
        return [(e.ids, e.type_ids) for e in (enc, *enc.overflowing)]

    def scores(self, texts: list[str], deadline: float | None = None) -> list[float]:
        """The injection probability of each text (its highest window; 0.0 for an empty text). Past
        `deadline` (time.monotonic) the next batch is not started: TimeoutError."""
        per_text = [self.windows(t) for t in texts]
        flat = [w for ws in per_text for w in ws]
        step = BATCH if "attention_mask" in self.inputs else 1  # no mask: padding would be read as text
        probs: list[float] = []
        for i in range(0, len(flat), step):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("injection model: deadline passed")
            probs += self.probabilities(flat[i : i + step])
        out, pos = [], 0
        for ws in per_text:
            out.append(max(probs[pos : pos + len(ws)], default=0.0))
            pos += len(ws)
        return out

    def probabilities(self, batch: list[Window]) -> list[float]:
        np = self._np
        logits = self._logits(batch)
        if logits.shape[1] == 1:
            return [float(p) for p in 1.0 / (1.0 + np.exp(-logits[:, 0]))]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return [float(p) for p in e[:, list(self.positive)].sum(axis=1) / e.sum(axis=1)]

    def _logits(self, batch: list[Window]) -> Any:
        np = self._np
        width = max(len(ids) for ids, _ in batch)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        types = np.zeros((len(batch), width), dtype=np.int64)
        for row, (w_ids, w_types) in enumerate(batch):
            ids[row, : len(w_ids)], mask[row, : len(w_ids)], types[row, : len(w_types)] = w_ids, 1, w_types
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {name: given[name].astype(dtype, copy=False) for name, dtype in self.inputs.items()}
        (logits,) = self.session.run([self.output], feed)
        return np.asarray(logits, dtype=np.float64)


def _inputs(session: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in session.get_inputs():
        if i.name not in INPUTS:
            raise ModelError(
                f"the model needs an input named {i.name!r}; only {', '.join(INPUTS)} can be given "
                "(export a sequence-classification model)"
            )
        if i.type not in _DTYPES:
            raise ModelError(f"input {i.name} is {i.type}; expected int64 or int32 token ids")
        out[i.name] = _DTYPES[i.type]
    if "input_ids" not in out:
        raise ModelError(f"the model has no input named input_ids (it has {', '.join(out) or 'none'})")
    return out


def _output(session: Any) -> str:
    outputs = session.get_outputs()
    chosen = next((o for o in outputs if o.name == "logits"), outputs[0])
    if chosen.shape is not None and len(chosen.shape) != 2:
        raise ModelError(f"output {chosen.name} has shape {chosen.shape}; expected logits [batch, labels]")
    return str(chosen.name)


def _id2label(config: Path | None) -> tuple[str, ...]:
    if config is None:
        return ()
    try:
        raw = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
        return tuple(str(raw[k]) for k in sorted(raw, key=int))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ModelError(f"cannot read id2label from {config}: {exc}") from None


def _positive(labels: tuple[str, ...], chosen: str | int | None) -> tuple[int, ...]:
    """Indices of the injection label(s): the one chosen, else those named like an attack, else the last."""
    key = "injection.model_label"
    if isinstance(chosen, int):
        if chosen >= len(labels):
            raise ModelError(f"label {chosen} does not exist; the model has {len(labels)} labels", key)
        return (chosen,)
    if chosen is not None:
        hits = tuple(i for i, name in enumerate(labels) if name.lower() == chosen.lower())
        if not hits:
            raise ModelError(f"{chosen!r} is not a label of the model ({', '.join(labels)})", key)
        return hits
    named = tuple(
        i
        for i, name in enumerate(labels)
        if (words := set(re.split(r"[^a-z]+", name.lower()))) & INJECTION_LABELS
        and not words & {"not", "no", "non"}
    )
    return named or (len(labels) - 1,)


# -- what the model reads of a response body ------------------------------------------------------------------

_HIDDEN_TAGS = re.compile(r"<(script|style|noscript|template)\b[^<>]{0,2000}>", re.I)
_TAG = re.compile(r"<[^<>]{0,2000}>")  # '<' excluded: a failed match stops at the next tag, so linear
_ATTR = re.compile(r"\s(?:alt|title|aria-label)\s*+=\s*+(?:\"([^\"]{0,2000})\"|'([^']{0,2000})')", re.I)


def readable_text(body: bytes, content_type: str) -> str:
    """The text a model would read: an HTML page's text with its comments and alt/title attributes (hidden
    channels an injection likes), a JSON document's string values, anything else as it is."""
    text = body.decode("utf-8", "replace")
    ct = content_type.lower()
    head = text.lstrip()[:15].lower()
    if "html" in ct or head.startswith(("<!doctype html", "<html")):
        return _html_text(text)
    if "json" in ct or head[:1] in ("{", "["):
        return "\n".join(unescape(m.group(1))[0] for m in STRING_RE.finditer(text) if not m.group(2))
    return text


def _html_text(text: str) -> str:
    low, parts, pos = text.lower(), [], 0
    for m in _HIDDEN_TAGS.finditer(text):
        if m.start() < pos:
            continue
        parts.append(text[pos : m.start()])
        end = low.find(f"</{m.group(1).lower()}", m.end())
        pos = len(text) if end == -1 else end
    parts.append(text[pos:])
    kept = " ".join(parts).replace("<!--", " ").replace("-->", " ")
    attrs = [m.group(1) or m.group(2) for m in _ATTR.finditer(kept)]
    return " ".join(html.unescape(" ".join([_TAG.sub(" ", kept), *attrs])).split())


# -- the bounded pool -----------------------------------------------------------------------------------------


class ModelPool:
    """At most `queue` checks pending (waiting or running) on `threads` threads. A full queue, a check past
    `timeout` (waiting counts) or a failing model leaves the caller with the built-in score: the reason is
    returned instead of scores. A check still waiting at its deadline is cancelled; a running one stops
    before its next batch."""

    def __init__(self, classifier: Classifier, threads: int, queue: int, timeout: float) -> None:
        self.classifier, self.timeout, self._queue = classifier, timeout, queue
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="palaryn-injection-model")
        self._cache: OrderedDict[bytes, float] = OrderedDict()

    async def scores(self, texts: list[str]) -> list[float] | str:
        """Scores of `texts`, or QUEUE_FULL / TIMEOUT / ERROR; never blocks the event loop."""
        if (known := self._cached(texts)) is not None:
            return known
        job = self._submit(texts)
        if job is None:
            return QUEUE_FULL
        try:
            got = await asyncio.wait_for(asyncio.wrap_future(job), self.timeout)
        except TimeoutError:
            return TIMEOUT
        except Exception as exc:  # a failing model falls back to the built-in score
            log.warning("injection model failed, built-in score used: %s", exc)
            return ERROR
        return self._remember(texts, got)

    def scores_blocking(self, texts: list[str]) -> list[float] | str:
        """The same for a caller off the event loop (a worker thread, a benchmark)."""
        if (known := self._cached(texts)) is not None:
            return known
        job = self._submit(texts)
        if job is None:
            return QUEUE_FULL
        try:
            got = job.result(self.timeout)
        except TimeoutError:
            job.cancel()
            return TIMEOUT
        except Exception as exc:  # as above
            log.warning("injection model failed, built-in score used: %s", exc)
            return ERROR
        return self._remember(texts, got)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _submit(self, texts: list[str]) -> Future[list[float]] | None:
        with self._lock:
            if self._pending >= self._queue:
                return None
            self._pending += 1
        try:
            job = self._executor.submit(self.classifier.scores, texts, time.monotonic() + self.timeout)
        except RuntimeError:  # shut down
            self._release(None)
            return None
        job.add_done_callback(self._release)  # also called when cancelled
        return job

    def _release(self, _job: object) -> None:
        with self._lock:
            self._pending -= 1

    def _cached(self, texts: list[str]) -> list[float] | None:
        with self._lock:
            got = [self._cache.get(_digest(t)) for t in texts]
        return None if None in got else [g for g in got if g is not None]

    def _remember(self, texts: list[str], scores: list[float]) -> list[float]:
        with self._lock:
            for t, s in zip(texts, scores, strict=True):
                self._cache[_digest(t)] = s
            while len(self._cache) > CACHE_TEXTS:
                self._cache.popitem(last=False)
        return scores


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
