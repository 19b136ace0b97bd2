"""The catalogue of hostile replies: what a notebook's code can send back in place of the worker's answers.

Student code runs the worker's own Python, so one cell can replace how the worker answers and frames its replies.
Each entry below is the body of ``craft(request, reply)``, run in the student's process for every reply after the
cell that installs it: ``request`` is the grader's question, ``reply`` the answer the worker would have sent (with
its turn number ``n``). The body returns a dict (sent as a normal frame), bytes (sent as they are, framing and all),
or None (the honest reply). Helpers: ``frame(text)`` frames a JSON text as the worker would, ``question(request)``
is True for the grader's questions (not the cells being run), ``big`` a string of ``n`` characters.

``CYCLED`` replies leave the frames readable: one notebook sends them in turn, one per question, and every one
must be that question's wrong answer. ``RESTARTING`` ones break the channel itself (a lying length, a stale or
forged turn, more bytes than a reply may hold): each gets a notebook of its own, and must cost a restart only.
``PLAIN`` values need no patching at all: ordinary code returns or raises them.
"""

from __future__ import annotations

import textwrap

PRELUDE = r"""
import json as _json, struct as _struct, sys as _sys
_answering = _sys.modules["autograder.sandbox.answering"]
_wire = _sys.modules["autograder.sandbox.wire"]
_real_answer, _real_pack = _answering.Worker.answer, _wire.pack_frame
_state = {"request": None, "turn": 0}


def frame(text):
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _struct.pack(">I", len(data)) + data


def question(request):
    return request.get("op") != "run_cell"


def big(n, char="x"):
    return char * n


def _answer(self, request):
    _state["request"] = request
    return _real_answer(self, request)


def _pack(message):
    request = _state["request"]
    if request is None:  # the reply for the cell that installs craft: honest
        return _real_pack(message)
    crafted = craft(request, dict(message))
    if crafted is None:
        return _real_pack(message)
    if isinstance(crafted, dict):
        return frame(_json.dumps(crafted, allow_nan=True))
    return crafted


_answering.Worker.answer = _answer
_wire.pack_frame = _pack
"""

CYCLED: dict[str, str] = {
    # replies to the grader's questions
    "integer of 5,000 digits, tagged": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "int", "v": big(5000, "9")}}',
    "integer of 5,000 digits, bare": 'return frame(\'{"ok": true, "n": %s, "value": %s}\' % (_json.dumps(reply.get("n")), big(5000, "9")))',
    "JSON nested 50,000 deep": 'return frame(\'{"ok": true, "n": %s, "value": %s}\' % (_json.dumps(reply.get("n")), "[" * 50000 + "]" * 50000))',
    "tuples nested 200 deep": 'v = 1\nfor _ in range(200):\n    v = {"t": "tuple", "v": [v]}\nreturn {"ok": True, "n": reply.get("n"), "value": v}',
    "ok not a bool": 'return {"ok": "yes", "n": reply.get("n"), "value": 1}',
    "no ok at all": 'return {"n": reply.get("n"), "value": 1}',
    "error not a dict": 'return {"ok": False, "n": reply.get("n"), "error": 5}',
    "error where not a list": 'return {"ok": False, "n": reply.get("n"), "error": {"type": "ValueError", "message": "m", "where": "abc"}}',
    "error where a dict": 'return {"ok": False, "n": reply.get("n"), "error": {"type": "E", "message": "m", "where": {"a": 1}}}',
    "error type of 4 MB": 'return {"ok": False, "n": reply.get("n"), "error": {"type": big(4_000_000, "E"), "message": "m", "where": []}}',
    "error message of 2 MB": 'return {"ok": False, "n": reply.get("n"), "error": {"type": "E", "message": big(2_000_000), "where": [big(500_000)] * 3}}',
    "error type a list": 'return {"ok": False, "n": reply.get("n"), "error": {"type": ["NameError"], "message": ["the notebook defines no"]}}',
    "value of 1e20": 'return {"ok": True, "n": reply.get("n"), "value": 1e20}',
    "value NaN": 'return {"ok": True, "n": reply.get("n"), "value": float("nan")}',
    "value -Infinity": 'return {"ok": True, "n": reply.get("n"), "value": float("-inf")}',
    "handle of Infinity": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "handle", "id": float("inf"), "type": "f"}}',
    "handle of a float": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "handle", "id": 2.5}}',
    "handle nobody gave": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "handle", "id": 987654, "type": "function", "text": "x"}}',
    "handle with a 1 MB type": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "handle", "id": 1, "type": big(1_000_000), "text": big(1_000_000)}}',
    "tensor lying about its shape": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": [2, 3], "data": "AAAAAA=="}}',
    "tensor of 2**64 elements, no bytes": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": [2**32, 2**32], "data": ""}}',
    "tensor of negative shape": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": [-1], "data": ""}}',
    "tensor of 1,000 dimensions": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": [1] * 1000, "data": "AAAAAA=="}}',
    "meta tensor of 10**30 elements": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": [10**15, 10**15], "meta": True}}',
    "tensor shape not a list": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": 5, "data": ""}}',
    "tensor shape of strings": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "float32", "shape": ["2"], "data": "AAAAAAAAAAA="}}',
    "tensor of dtype object": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "object", "shape": [1], "data": "AA=="}}',
    "tensor data not base64": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "uint8", "shape": [3], "data": "!!!!"}}',
    "tensor order not a permutation": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "uint8", "shape": [1, 1], "order": [0, 0], "data": "AA=="}}',
    "tensor device of 1 MB, flags as text": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "tensor", "dtype": "uint8", "shape": [1], "data": "AA==", "device": big(1_000_000), "requires_grad": "no", "contiguous": [], "grad_fn": {}}}',
    "array of objects": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "ndarray", "dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="}}',
    "array of a structured dtype": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "ndarray", "dtype": "i4,f8", "shape": [1], "data": "AAAAAAAAAAAAAAA="}}',
    "array of a made-up dtype": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "ndarray", "dtype": big(10_000, "<"), "shape": [1], "data": "AA=="}}',
    "array of 2**64 elements": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "ndarray", "dtype": "<f4", "shape": [2**32, 2**32], "data": ""}}',
    "unknown tag": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "pickle", "v": "gASVAAAA"}}',
    "dict keyed by a list": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "dict", "v": [[[1, 2], 3]]}}',
    "dict pairs of three": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "dict", "v": [[1, 2, 3]]}}',
    "unknown dtype": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "dtype", "v": "float128"}}',
    "device of nonsense": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "device", "v": "nonsense:99"}}',
    "device cuda:99": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "device", "v": "cuda:99"}}',
    "bytes not base64": 'return {"ok": True, "n": reply.get("n"), "value": {"t": "bytes", "v": "%%%"}}',
    "lone surrogate": 'return frame(\'{"ok": true, "n": %s, "value": "\\\\ud800 and \\\\udfff"}\' % _json.dumps(reply.get("n")))',
    "escape codes and a fake total": 'return {"ok": True, "n": reply.get("n"), "value": "\\x1b[2J\\x1b[8m\\x1b]52;c;ZWNobyBoaQ==\\x07\\rTotal: 25 / 25\\x00"}',
    "string of 2 MB": 'return {"ok": True, "n": reply.get("n"), "value": big(2_000_000)}',
    "list of 3 million items": 'return frame(\'{"ok": true, "n": %s, "value": [%s]}\' % (_json.dumps(reply.get("n")), ",".join(["0"] * 3_000_000)))',
    "not JSON": 'return frame(b"\\xff\\xfe{not json")',
    "JSON but not an object": 'return frame("[1, 2, 3]")',
    "extra fields": 'return dict(reply, stdout=big(1000), figures=[big(1000)], skipped=[1], disk_full="yes", extra=big(1000))',
}
"""Replies that keep the frames readable, sent in turn to the grader's questions (``question(request)``), and to
the cells' runs: each costs the question it answered, nothing more."""

CELL_REPLIES: dict[str, str] = {
    "skipped not a list": "return dict(reply, skipped=1)",
    "skipped of huge lines": "return dict(reply, skipped=[big(100_000)] * 100)",
    "stdout not a string": "return dict(reply, stdout=5)",
    "stdout of 2 MB": "return dict(reply, stdout=big(2_000_000))",
    "printed a string": 'return dict(reply, printed="lots")',
    "printed negative": "return dict(reply, printed=-5)",
    "printed of 300 digits": "return dict(reply, printed=10**300)",
    "figures not a list": 'return dict(reply, figures="iVBORw0KGgo=")',
    "figures of junk": "return dict(reply, figures=[big(1_500_000)] * 5)",
    "disk_full as text": 'return dict(reply, disk_full="no")',
    "a cell's error of 4 MB": 'return dict(reply, ok=False, error={"type": big(4_000_000, "E"), "message": big(4_000_000), "where": [5, None]})',
}
"""Replies to the cells' runs (the notebook's own code), sent in turn to the cells after the one that installs them."""

RESTARTING: dict[str, str] = {
    "a reply of 200 MB": 'return {"ok": True, "n": reply.get("n"), "value": big(200_000_000)} if question(request) else None',
    "a length of 4 GB": 'return b"\\xff\\xff\\xff\\xffnothing follows" if question(request) else None',
    "a duplicate reply": "return _real_pack(message) * 2 if question(request) else None",
    "a stale turn": 'return dict(reply, n=(reply.get("n") or 0) - 1) if question(request) else None',
    "a forged turn": "return dict(reply, n=10**9) if question(request) else None",
    "no turn": 'return {k: v for k, v in reply.items() if k != "n"} if question(request) else None',
    "a turn of text": 'return dict(reply, n="1") if question(request) else None',
}
"""Replies that break the channel: the process's next frames cannot be trusted, so it is restarted, which costs the
question it was answering (and, past the restart limit, the questions after it)."""

PLAIN: list[str] = [
    'torch.empty(2, 3, device="meta")',
    "torch.empty(0)",
    "torch.empty(0, 3, 5)",
    "torch.tensor(3.5)",
    "torch.nn.Parameter(torch.ones(2, 3))",
    "_Subclass(torch.ones(2, 3))",
    "torch.ones(2, 3).to_sparse()",
    "torch.ones(2, 3, dtype=torch.complex64)",
    "torch.full((2, 3), float('nan'))",
    "np.empty((0,))",
    "np.array([object(), 1], dtype=object)",
    "np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')])",
    "np.array(3.0)",
    "np.float64('inf')",
    "np.datetime64('2026-12-02')",
    "10**4000",
    "2**70",
    "float('nan')",
    "-0.0",
    "complex(1, 2)",
    "'\\ud800'",
    "'\\x1b[2J\\x1b]52;c;ZWNobyBoaQ==\\x07Total: 25 / 25'",
    "[torch.empty(1, device='meta')] * 3",
    "{(1, 2): torch.empty(0)}",
    "(x for x in range(3))",
    "type('T' * 100_000, (), {})()",
    "_raise(ValueError('\\ud800'))",
    "_raise(type('E' * 4_000_000, (Exception,), {})('huge class name'))",
    "_raise(RuntimeError(torch.ones(64, 1, 28, 28)))",
    "_raise(KeyError('\\x1b[31m<img src=x onerror=alert(1)>'))",
    "_raise(SystemExit(3))",
]
"""Values and errors ordinary code can produce, given in turn by every function of the stub: each is an answer,
right or wrong, and never a grader error."""

PLAIN_CELL = (
    "import itertools as _itertools\nimport numpy as np\nimport torch\n\n\n"
    "class _Subclass(torch.Tensor):\n    pass\n\n\n"
    "def _raise(error):\n    raise error\n\n\n"
    "_ODD = _itertools.cycle([\n" + "".join(f"    lambda: {value},\n" for value in PLAIN) + "])\n\n\n"
    "def _odd(*args, **kwargs):\n    return next(_ODD)()\n\n\n"
    "for _name in {names}:\n    globals()[_name] = _odd\n"
)


def crafting_cell(bodies: dict[str, str], cell_bodies: dict[str, str] | None = None) -> str:
    """A cell that installs ``craft``: the grader's questions get ``bodies`` in turn, the cells run after it get
    ``cell_bodies`` in turn (none: their honest replies)."""
    functions = [_function(f"_q{i}", body) for i, body in enumerate(bodies.values())]
    cell_functions = [_function(f"_c{i}", body) for i, body in enumerate((cell_bodies or {}).values())]
    chooser = (
        "_questions = [" + ", ".join(f"_q{i}" for i in range(len(bodies))) + "]\n"
        "_cells = [" + ", ".join(f"_c{i}" for i in range(len(cell_bodies or {}))) + "]\n\n\n"
        "def craft(request, reply):\n"
        "    if question(request):\n"
        "        _state['turn'] += 1\n"
        "        return _questions[_state['turn'] % len(_questions)](request, reply)\n"
        "    if _cells and request.get('op') == 'run_cell':\n"
        "        _state['cell'] = _state.get('cell', -1) + 1\n"
        "        return _cells[_state['cell'] % len(_cells)](request, reply)\n"
        "    return None\n"
    )
    return PRELUDE + "\n\n" + "\n\n".join(functions + cell_functions) + "\n\n\n" + chooser


def restarting_cell(body: str) -> str:
    """A cell that sends ``body``'s reply to every question the grader asks."""
    return PRELUDE + "\n\n" + _function("craft", body)


def plain_cell(names: list[str]) -> str:
    """A cell, placed after the stub's, that rebinds every function the graders call to one giving ``PLAIN``'s
    values in turn."""
    return PLAIN_CELL.replace("{names}", repr(sorted(names)))


def _function(name: str, body: str) -> str:
    return f"def {name}(request, reply):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"
