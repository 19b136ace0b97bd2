"""Hidden graders for week 2: neurons, linear layers, activations and losses.

References come from torch itself (F.linear, F.cross_entropy, torch.softmax...) in float64; student answers are
compared with assert_close's default tolerances for their dtype unless a test says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.judging.checks import (
    call_keeping_inputs,
    expect_close,
    expect_equal,
    expect_tensor,
    fail,
    hint_on_error,
    part,
    points,
    same,
)
from autograder.judging.student import Remote

TRUTH_TABLE = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


FLOAT32 = "the course's networks compute in float32: keep the input's dtype"
FLOATS = "return 0.0 and 1.0 as floats (a comparison gives bools: .float())"


def _scalar(got: object, what: str) -> torch.Tensor:
    """A single number the student returned (a 0-d tensor, a 1-element tensor or a float), as a 0-d tensor."""
    if got is None:
        fail(f"{what} returned None, expected a number: does the function `return` its result (not print it)?")
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        return torch.tensor(float(got), dtype=torch.float64)
    out = expect_tensor(got, what)
    if out.numel() != 1:
        fail(f"{what} returned a tensor of shape {tuple(out.shape)}, expected a single number")
    return out.reshape(())


def _step(weights: object) -> torch.Tensor:
    """The perceptron, computed here: step(w0 + w1 a + w2 b) over the truth table."""
    w = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
    if w.numel() != 3:
        fail(f"expected three weights (w0, w1, w2), got {w.numel()}")
    return (w[0] + TRUTH_TABLE.double() @ w[1:] > 0).double()


# -- 1. neuron and perceptron ------------------------------------------------------------------------------------


@part("neuron")
@points(1)
def test_weighted_sum(student):
    """weighted_sum of inputs (1, -3, 4, 2) and weights (9, 6, 10, 7) is 45, and works for other vectors, one long"""
    what = "weighted_sum((1, -3, 4, 2), (9, 6, 10, 7))"
    got = _scalar(student.weighted_sum(torch.tensor([1.0, -3, 4, 2]), torch.tensor([9.0, 6, 10, 7])), what)
    expect_close(got, torch.tensor(45.0), what)
    for length in (7, 1):
        x, w = torch.randn(length, generator=_generator(1)), torch.randn(length, generator=_generator(2))
        what = f"weighted_sum of two ({length},) float32 vectors"
        got = _scalar(call_keeping_inputs(student.weighted_sum, what, x, w), what)
        expect_tensor(got, what, dtype=torch.float32, dtype_hint=FLOAT32)
        expect_close(got, (x.double() * w.double()).sum(), what)


@part("neuron")
@points(1)
def test_perceptron_step(student):
    """perceptron applies a step (> 0) to w0 + w1 a + w2 b for each row: float or integer inputs and weights, and a
    batch of one"""
    cases = (
        (TRUTH_TABLE, (-1.0, 1.0, 1.0)),
        (TRUTH_TABLE, (0.5, -1.0, 2.0)),
        (TRUTH_TABLE.long(), (0, 1, -1)),
        (TRUTH_TABLE[3:], (-1, 1, 1)),
    )
    for inputs, weights in cases:
        what = f"perceptron(<{len(inputs)} input pairs, {str(inputs.dtype).removeprefix('torch.')}>, {weights})"
        sums = inputs.double() @ torch.tensor(weights[1:], dtype=torch.float64) + weights[0]
        hint = {"a sum of exactly 0 must give 0: the step is 'greater than 0'": (sums >= 0).double()}
        got = call_keeping_inputs(student.perceptron, what, inputs, weights)
        out = expect_tensor(got, what, shape=(len(inputs),), dtype=torch.float32, dtype_hint=FLOATS)
        expect_close(out, (sums > 0).double(), what, hints=hint)


@part("neuron")
@points(1)
def test_and_weights(student):
    """AND_WEIGHTS make a perceptron compute AND"""
    weights = student.value("AND_WEIGHTS")
    expect_close(
        _step(weights), torch.tensor([0.0, 0, 0, 1]), f"step(AND_WEIGHTS = {weights}) over (0,0), (0,1), (1,0), (1,1)"
    )


@part("neuron")
@points(1)
def test_or_weights(student):
    """OR_WEIGHTS make a perceptron compute OR"""
    weights = student.value("OR_WEIGHTS")
    expect_close(
        _step(weights), torch.tensor([0.0, 1, 1, 1]), f"step(OR_WEIGHTS = {weights}) over (0,0), (0,1), (1,0), (1,1)"
    )


@part("neuron")
@points(1)
def test_xor_network(student):
    """xor_network computes XOR on every input pair, a batch of one too, from perceptrons"""
    for order in ([3, 0, 2, 1, 1, 3], [2]):
        rows = TRUTH_TABLE[torch.tensor(order)]
        what = f"xor_network(<{len(rows)} input pairs>)"
        out, calls = student.tool("calls_during", shown_as=what)(["__main__.perceptron"], student.xor_network, rows)
        out = expect_tensor(out, what, shape=(len(rows),), dtype=torch.float32, dtype_hint=FLOATS)
        hints = {"that is OR, not XOR: (1, 1) must give 0": (rows.sum(1) > 0).double()}
        expect_close(out, (rows[:, 0] != rows[:, 1]).double(), what, hints=hints)
        if calls["__main__.perceptron"] < 2:
            fail(f"{what} called perceptron {calls['__main__.perceptron']} time(s): build XOR from two layers of them")


# -- 2. linear layer -------------------------------------------------------------------------------------------


def _layer(n_in: int, n_out: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _generator(seed)
    return torch.randn(n_out, n_in, generator=g), torch.randn(n_out, generator=g)


LINEAR_HINTS = "y = x W^T + b: W has shape (out, in)"
NOT_TRANSPOSED = {"cannot be multiplied": f"is W transposed? x @ W needs W as (in, out); {LINEAR_HINTS}"}


@part("linear")
@points(1)
def test_linear_forward_vector(student):
    """linear_forward maps one input vector (5,) to (3,)"""
    W, b = _layer(5, 3, 3)
    x = torch.randn(5, generator=_generator(4))
    what = "linear_forward(<x (5,)>, <W (3, 5)>, <b (3,)>)"
    with hint_on_error(NOT_TRANSPOSED):
        out = student.linear_forward(x, W, b)
    expect_close(out, F.linear(x.double(), W.double(), b.double()), what)


@part("linear")
@points(1)
def test_linear_forward_batch(student):
    """linear_forward maps a batch (4, 5) to (4, 3), and a batch of one (1, 5) to (1, 3), bias on every row"""
    W, b = _layer(5, 3, 5)
    for rows in (4, 1):
        x = torch.randn(rows, 5, generator=_generator(6))
        what = f"linear_forward(<x ({rows}, 5)>, <W (3, 5)>, <b (3,)>)"
        with hint_on_error(NOT_TRANSPOSED):
            out = call_keeping_inputs(student.linear_forward, what, x, W, b)
        out = expect_tensor(
            out,
            what,
            shape=(rows, 3),
            dtype=torch.float32,
            shape_hints={(3, rows): f"{LINEAR_HINTS}; the batch stays in dim 0", (3,): "keep the batch dimension"},
        )
        expect_close(out, F.linear(x.double(), W.double(), b.double()), what)


@part("linear")
@points(1)
def test_linear_forward_square(student):
    """linear_forward with a square W uses W transposed and adds b per output column"""
    W, b = _layer(3, 3, 7)
    x = torch.randn(3, 3, generator=_generator(8))
    X, Wd, bd = x.double(), W.double(), b.double()
    hints = {
        "is W transposed? y = x W^T + b, with W of shape (out, in)": X @ Wd + bd,
        "the bias is added per row: b[j] belongs to output column j, so add b of shape (out,) to each row": X @ Wd.T
        + bd[:, None],
    }
    what = "linear_forward(<x (3, 3)>, <W (3, 3)>, <b (3,)>)"
    expect_close(student.linear_forward(x, W, b), F.linear(X, Wd, bd), what, hints=hints)


@part("linear")
@points(1)
def test_my_linear_parameters(student):
    """MyLinear(5, 3) registers weight (3, 5) and bias (3,) as parameters, the weight small and random"""
    layer = student.MyLinear.handle(5, 3)
    state = layer.state_dict()
    if not isinstance(state, dict) or set(state) != {"weight", "bias"}:
        keys = sorted(state) if isinstance(state, dict) else state
        fail(f"MyLinear(5, 3).state_dict() has keys {keys}, expected ['bias', 'weight']: wrap both in nn.Parameter")
    names = student.tool("parameter_names")(layer)
    if sorted(names) != ["bias", "weight"]:
        fail(
            f"MyLinear(5, 3)'s parameters are {sorted(names)}: wrap weight and bias in nn.Parameter (a buffer or a "
            "plain tensor is saved but never trained)"
        )
    expect_tensor(
        state["weight"],
        "MyLinear(5, 3).weight",
        shape=(3, 5),
        shape_hints={(5, 3): "is W transposed? nn.Linear stores weight as (out_features, in_features)"},
    )
    expect_tensor(state["bias"], "MyLinear(5, 3).bias", shape=(3,))
    spread = float(state["weight"].double().std())
    if spread == 0.0:
        fail("MyLinear(5, 3).weight is constant: initialise it randomly so the neurons can learn different features")
    if not spread < 10.0:  # randn * 0.01, plain randn and nn.Linear's own all give a spread of 1 or less
        fail(
            f"MyLinear(5, 3).weight starts with a spread (std) of {spread:.3g}: initialise with small random values, "
            "e.g. torch.randn(out_features, in_features) * 0.01; weights this large make outputs explode"
        )


@part("linear")
@points(2)
def test_my_linear_matches_nn_linear(student):
    """MyLinear gives nn.Linear's outputs once the same weights are loaded"""
    W, b = _layer(5, 3, 9)
    layer = student.MyLinear.handle(5, 3)
    layer.load_state_dict({"weight": W, "bias": b})
    for shape in ((4, 5), (5,), (1, 5)):
        x = torch.randn(*shape, generator=_generator(10))
        what = f"MyLinear(5, 3) with nn.Linear's weights, called on <x {shape}>"
        with hint_on_error(NOT_TRANSPOSED):
            out = layer(x)
        out = expect_tensor(out, what, shape=(*shape[:-1], 3), dtype=torch.float32, dtype_hint=FLOAT32)
        expect_close(out, F.linear(x.double(), W.double(), b.double()), what)


@part("linear")
@points(1)
def test_count_parameters(student):
    """count_parameters counts weights and biases: 784-50-20-10 has 40,480"""
    cases = (([784, 50], 39_250), ([784, 50, 20, 10], 40_480), ([200 * 200, 500], 20_000_500))
    for sizes, expected in cases:
        got = student.count_parameters(sizes)
        without_bias = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        hint = "count the biases too: one per output unit" if same(got, without_bias) else None
        expect_equal(got, expected, f"count_parameters({sizes})", hint, stated=expected == 40_480)


# -- 3. activations, softmax, losses -------------------------------------------------------------------------------


def _inputs(seed: int) -> torch.Tensor:
    return torch.cat([torch.randn(200, generator=_generator(seed)) * 4, torch.tensor([-8.0, -1e-3, 0.0, 1e-3, 8.0])])


FORBIDDEN = [  # the part asks for the formulas themselves: "no torch.relu, torch.sigmoid, F.softmax and the like"
    *(f"torch.{name}" for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax")),
    *(f"torch.Tensor.{name}" for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax")),
    *(f"torch.nn.functional.{name}" for name in ("relu", "sigmoid", "tanh", "elu", "leaky_relu", "softmax")),
    *(f"torch.nn.functional.{name}" for name in ("log_softmax", "cross_entropy", "nll_loss", "mse_loss")),
    "torch.special.expit",
]


def _formula(student, name: str, *args: object, **kwargs: object) -> torch.Tensor:
    """The student's ``name`` called on ``args``: written from its formula (none of FORBIDDEN called), leaving the
    caller's tensors as they were, and giving a tensor."""
    shown = ", ".join(
        f"<{tuple(a.shape)}, {str(a.dtype).removeprefix('torch.')}>" if isinstance(a, torch.Tensor) else repr(a)
        for a in args
    )
    what = f"{name}({shown}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    out, used = call_keeping_inputs(
        student.tool("calls_during", shown_as=what), what, FORBIDDEN, getattr(student, name), *args, **kwargs
    )
    called = sorted({called.rsplit(".", 1)[-1] for called, count in used.items() if count})
    if called:
        fail(f"{what} called PyTorch's {', '.join(called)}: this part asks you to write the formula itself")
    if out is None:
        fail(f"{what} returned None, expected a tensor: does the function `return` its result (not print it)?")
    return out


def _elementwise(student, name: str, reference, seed: int, hints: dict | None = None, **kwargs: object) -> None:
    """An activation, element by element: on 205 values (float32, with 0 and tiny values) and on a (1, 3) float64
    batch, where it must keep shape and dtype."""
    for x in (_inputs(seed), torch.randn(1, 3, generator=_generator(seed), dtype=torch.float64) * 3):
        out = _formula(student, name, x, **kwargs)
        what = f"{name}(<x {tuple(x.shape)}, {str(x.dtype).removeprefix('torch.')}>)"
        out = expect_tensor(out, what, shape=tuple(x.shape), dtype=x.dtype, dtype_hint="keep the input's dtype")
        wrong = {hint: variant(x.double()) for hint, variant in (hints or {}).items()}
        expect_close(out, reference(x.double()), what, hints=wrong)


@part("activations")
@points(1)
def test_relu_and_leaky_relu(student):
    """relu and leaky_relu follow their formulas, for any shape and dtype"""
    _elementwise(student, "relu", torch.relu, 11)
    hints = {"the slope argument is ignored": lambda x: F.leaky_relu(x, 0.01)}
    _elementwise(student, "leaky_relu", lambda x: F.leaky_relu(x, 0.2), 11, hints, slope=0.2)


@part("activations")
@points(1)
def test_sigmoid(student):
    """sigmoid follows 1 / (1 + e^(-x)), for any shape and dtype"""
    hints = {"that is e^x / (1 + e^x) of -x: check the sign of the exponent": lambda x: torch.sigmoid(-x)}
    _elementwise(student, "sigmoid", torch.sigmoid, 12, hints)


@part("activations")
@points(1)
def test_tanh(student):
    """tanh follows its formula, for any shape and dtype"""
    _elementwise(student, "tanh", torch.tanh, 13)


@part("activations")
@points(1)
def test_elu(student):
    """elu follows its formula, for the default alpha and another, any shape and dtype"""
    _elementwise(student, "elu", F.elu, 14)
    _elementwise(student, "elu", lambda x: F.elu(x, alpha=0.5), 14, {"the alpha argument is ignored": F.elu}, alpha=0.5)


@part("activations")
@points(1)
def test_softmax_rows(student):
    """softmax turns scores into probabilities along dim: rows of (4, 6), columns, a single row, 3-D, float64"""
    logits = torch.randn(4, 6, generator=_generator(15))
    hints = {"that normalises down the columns: use dim=-1 (each row sums to 1)": torch.softmax(logits.double(), dim=0)}
    expect_close(
        _formula(student, "softmax", logits), torch.softmax(logits.double(), dim=-1), "softmax(<(4, 6)>)", hints=hints
    )
    cases = [(logits, {"dim": 0}), (logits[:1], {}), (torch.randn(2, 3, 4, generator=_generator(16)), {"dim": 1})]
    cases.append((logits.double(), {}))
    for values, kwargs in cases:
        what = f"softmax(<{tuple(values.shape)}, {str(values.dtype).removeprefix('torch.')}>, {kwargs})"
        out = expect_tensor(
            _formula(student, "softmax", values, **kwargs), what, shape=tuple(values.shape), dtype=values.dtype
        )
        expect_close(out, torch.softmax(values.double(), dim=kwargs.get("dim", -1)), what)


@part("activations")
@points(1)
def test_softmax_large_logits(student):
    """softmax stays finite for logits around 1000 and -1000"""
    logits = torch.tensor([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0]])
    hints = {"e^1000 overflows: subtract each row's maximum before exponentiating": torch.full((2, 3), float("nan"))}
    what = "softmax(<logits of about ±1000>)"
    expect_close(_formula(student, "softmax", logits), torch.softmax(logits.double(), dim=-1), what, hints=hints)


@part("activations")
@points(1)
def test_cross_entropy(student):
    """cross_entropy matches F.cross_entropy on a batch of 8 with 10 classes, and on a batch of one"""
    for count in (8, 1):
        logits = torch.randn(count, 10, generator=_generator(16)) * 3
        targets = torch.randint(0, 10, (count,), generator=_generator(17))
        expected = F.cross_entropy(logits.double(), targets)
        hints = {
            f"that is {count} times too large: average over the batch, do not sum": expected * count,
            "the sign is flipped: the loss is -log p": -expected,
        }
        what = f"cross_entropy(<logits ({count}, 10)>, <targets ({count},)>)"
        got = _scalar(_formula(student, "cross_entropy", logits, targets), what)
        expect_tensor(got, what, dtype=torch.float32, dtype_hint=FLOAT32)
        expect_close(got, expected, what, rtol=1e-5, hints=hints if count > 1 else {})


@part("activations")
@points(1)
def test_cross_entropy_large_logits(student):
    """cross_entropy stays finite and correct for logits in the thousands"""
    logits = torch.randn(6, 5, generator=_generator(18)) * 1000
    targets = torch.randint(0, 5, (6,), generator=_generator(19))
    what = "cross_entropy(<logits of about ±1000>)"
    got = _scalar(_formula(student, "cross_entropy", logits, targets), what)
    if not bool(torch.isfinite(got)):
        stable = "z - max - log(sum(e^(z - max)))"
        fail(f"{what} returned {got.item()}: e^1000 overflows and log(0) is -inf; use the stable log-softmax, {stable}")
    expect_close(got, F.cross_entropy(logits.double(), targets), what, rtol=1e-5)


@part("activations")
@points(1)
def test_mse(student):
    """mse is the mean of squared differences, for vectors and for a (2, 3) batch"""
    for shape in ((12,), (2, 3)):
        pred, target = torch.randn(shape, generator=_generator(20)), torch.randn(shape, generator=_generator(21))
        expected = F.mse_loss(pred.double(), target.double())
        what = f"mse(<pred {shape}>, <target {shape}>)"
        got = _scalar(_formula(student, "mse", pred, target), what)
        expect_tensor(got, what, dtype=torch.float32, dtype_hint=FLOAT32)
        size = pred.numel()
        expect_close(
            got, expected, what, hints={f"that is {size} times too large: take the mean, not the sum": expected * size}
        )


# -- 4. gradients ----------------------------------------------------------------------------------------------


def _reference_gradients(x, W, b, targets):
    W = W.double().clone().requires_grad_(True)
    b = b.double().clone().requires_grad_(True)
    F.cross_entropy(F.linear(x.double(), W, b), targets).backward()
    return W.grad, b.grad


def _gradient_pair(got: object, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what} returned {type(got).__name__}, expected the pair (dW, db)")
    return expect_tensor(got[0], f"{what}[0] (dW)"), expect_tensor(got[1], f"{what}[1] (db)")


@part("gradients")
@points(1)
def test_layer_gradients(student):
    """layer_gradients matches autograd through nn.Linear and F.cross_entropy, for a batch of 6 and of one"""
    W, b = _layer(4, 3, 22)
    for count in (6, 1):
        x = torch.randn(count, 4, generator=_generator(23))
        targets = torch.randint(0, 3, (count,), generator=_generator(24))
        what = f"layer_gradients(<x ({count}, 4)>, <W (3, 4)>, <b (3,)>, <targets ({count},)>)"
        dW_got, db_got = _gradient_pair(student.layer_gradients(x, W, b, targets), what)
        dW, db = _reference_gradients(x, W, b, targets)
        expect_tensor(dW_got, f"{what}[0] (dW)", shape=(3, 4), dtype=torch.float32, dtype_hint=FLOAT32)
        expect_close(dW_got, dW, f"{what}[0] (dW)", rtol=1e-4, atol=1e-6, hints={"is dW transposed?": dW.T})
        expect_close(db_got, db, f"{what}[1] (db)", rtol=1e-4, atol=1e-6)


@part("gradients")
@points(1)
def test_layer_gradients_repeatable(student):
    """layer_gradients leaves the caller's W and b alone (even ones that require grad) and gives the same answer
    twice"""
    W, b = _layer(4, 2, 25)
    x, targets = torch.randn(3, 4, generator=_generator(26)), torch.tensor([1, 0, 1])
    dW, db = _reference_gradients(x, W, b, targets)
    what = "layer_gradients(<x (3, 4)>, <W (2, 4), requires_grad=True>, <b (2,), requires_grad=True>, <targets>)"
    tracked = (W.clone().requires_grad_(True), b.clone().requires_grad_(True))
    dW_got, db_got = _gradient_pair(call_keeping_inputs(student.layer_gradients, what, x, *tracked, targets), what)
    expect_close(dW_got, dW, f"{what}[0] (dW)", rtol=1e-4, atol=1e-6)
    remote_W, remote_b = student.put(W), student.put(b)
    student.layer_gradients(x, remote_W, remote_b, targets)
    dW_got, _ = _gradient_pair(student.layer_gradients(x, remote_W, remote_b, targets), what)
    expect_close(
        dW_got,
        dW,
        "layer_gradients called twice with the same W",
        rtol=1e-4,
        atol=1e-6,
        hints={"the gradient doubled: .grad accumulates; differentiate fresh copies of W and b": 2 * dW},
    )
    expect_close(remote_W.fetch(), W, "the caller's W after layer_gradients (it must not change)")


# -- 5. MLP ------------------------------------------------------------------------------------------------------


def _mlp(student) -> Remote:
    return student.MLP.handle()


LAYERS = {"fc1": (784, 50), "fc2": (50, 20), "fc3": (20, 10)}


@part("mlp")
@points(1)
def test_mlp_output_shape(student):
    """MLP maps (N, 1, 28, 28) float32 images to (N, 10) float32 scores, for N = 16 and N = 1"""
    model = _mlp(student)
    for n in (16, 1):
        x = torch.rand(n, 1, 28, 28, generator=_generator(27))
        what = f"MLP()(<images ({n}, 1, 28, 28)>)"
        with hint_on_error(
            {"cannot be multiplied": "flatten each image to 784 features inside forward, keeping the batch dimension"}
        ):
            out = model(x)
        expect_tensor(out, what, shape=(n, 10), dtype=torch.float32, dtype_hint=FLOAT32)


@part("mlp")
@points(1)
def test_mlp_layers(student):
    """MLP has the 784-50-20-10 nn.Linear layers named fc1, fc2, fc3: 40,480 parameters"""
    model = _mlp(student)
    state = model.state_dict()
    if not isinstance(state, dict):
        fail("MLP().state_dict() is not a dictionary of tensors")
    shapes = sorted(tuple(t.shape) for t in state.values())
    expected = sorted([(50, 784), (50,), (20, 50), (20,), (10, 20), (10,)])
    expect_equal(shapes, expected, "the shapes of MLP()'s parameters", stated=True)
    for name, (n_in, n_out) in LAYERS.items():
        layer = model.attr(name) if name in {key.split(".")[0] for key in state} else None
        if layer is None or getattr(layer, "type_name", "") != "Linear":
            kind = getattr(layer, "type_name", "nothing") if layer is not None else "nothing"
            fail(f"MLP().{name} is {kind}: the part asks for nn.Linear layers named fc1, fc2 and fc3")
        expect_equal(tuple(layer.attr("weight").shape), (n_out, n_in), f"MLP().{name}.weight's shape", stated=True)


@part("mlp")
@points(1)
def test_mlp_is_its_layers(student):
    """MLP's output is its 784-50, 50-20 and 20-10 layers applied in order with ReLU between (logits, no softmax)"""
    model = _mlp(student)
    state = model.state_dict()
    by_shape = {tuple(t.shape): t.double() for t in state.values()} if isinstance(state, dict) else {}
    wanted = [((50, 784), (50,)), ((20, 50), (20,)), ((10, 20), (10,))]
    if not all(weight in by_shape and bias in by_shape for weight, bias in wanted):
        found = sorted(by_shape)
        fail(f"MLP()'s parameters have shapes {found}: without 784-50-20-10 layers its output cannot be checked")
    h = torch.rand(5, 1, 28, 28, generator=_generator(28))
    x, h = h, h.reshape(5, -1).double()
    for number, (weight, bias) in enumerate(wanted):
        h = F.linear(h, by_shape[weight], by_shape[bias])
        h = F.relu(h) if number < 2 else h
    hints = {
        "the output went through softmax: return logits; cross-entropy applies softmax itself": torch.softmax(h, 1),
        "the output went through ReLU: the last layer's scores must be able to go negative": F.relu(h),
    }
    expect_close(model(x), h, "MLP()(<images (5, 1, 28, 28)>)", rtol=1e-4, atol=1e-5, hints=hints)
