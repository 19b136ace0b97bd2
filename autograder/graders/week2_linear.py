"""Hidden graders for week 2: neurons, linear layers, activations and losses.

References come from torch itself (F.linear, F.cross_entropy, torch.softmax...) in float64; student answers are
compared with assert_close's default tolerances for their dtype unless a test says otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.checks import expect_close, expect_equal, expect_tensor, fail, hint_on_error, part, points
from autograder.student import Remote

TRUTH_TABLE = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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
    """weighted_sum of inputs (1, -3, 4, 2) and weights (9, 6, 10, 7) is 45, and works for other vectors"""
    got = student.weighted_sum(torch.tensor([1.0, -3, 4, 2]), torch.tensor([9.0, 6, 10, 7]))
    expect_close(torch.as_tensor(got).reshape(()), torch.tensor(45.0), "weighted_sum((1, -3, 4, 2), (9, 6, 10, 7))")
    x, w = torch.randn(7, generator=_generator(1)), torch.randn(7, generator=_generator(2))
    got = student.weighted_sum(x, w)
    expect_close(torch.as_tensor(got).reshape(()), (x.double() * w.double()).sum(), "weighted_sum of two (7,) vectors")


@part("neuron")
@points(1)
def test_perceptron_step(student):
    """perceptron applies a step (> 0) to w0 + w1 a + w2 b for each row"""
    for weights in ((-1.0, 1.0, 1.0), (0.5, -1.0, 2.0), (0.0, 1.0, -1.0)):
        what = f"perceptron(<truth table (4, 2)>, {weights})"
        hint = {
            "a sum of exactly 0 must give 0: the step is 'greater than 0'": (
                TRUTH_TABLE.double() @ torch.tensor(weights[1:], dtype=torch.float64) + weights[0] >= 0
            ).double()
        }
        out = expect_tensor(student.perceptron(TRUTH_TABLE, weights), what, shape=(4,))
        expect_close(out, _step(weights), what, hints=hint)


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
    """xor_network computes XOR on every input pair"""
    rows = TRUTH_TABLE[torch.tensor([3, 0, 2, 1, 1, 3])]
    out = expect_tensor(student.xor_network(rows), "xor_network(<6 input pairs>)", shape=(6,))
    expected = (rows[:, 0] != rows[:, 1]).double()
    hints = {"that is OR, not XOR: (1, 1) must give 0": (rows.sum(1) > 0).double()}
    expect_close(out, expected, "xor_network(<6 input pairs>)", hints=hints)


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
    """linear_forward maps a batch (4, 5) to (4, 3), adding the bias to every row"""
    W, b = _layer(5, 3, 5)
    x = torch.randn(4, 5, generator=_generator(6))
    what = "linear_forward(<x (4, 5)>, <W (3, 5)>, <b (3,)>)"
    with hint_on_error(NOT_TRANSPOSED):
        out = student.linear_forward(x, W, b)
    out = expect_tensor(
        out,
        what,
        shape=(4, 3),
        shape_hints={(3, 4): f"{LINEAR_HINTS}; the batch stays in dim 0"},
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
    """MyLinear(5, 3) registers weight (3, 5) and bias (3,) as parameters"""
    layer = student.MyLinear.handle(5, 3)
    state = layer.state_dict()
    if not isinstance(state, dict) or set(state) != {"weight", "bias"}:
        keys = sorted(state) if isinstance(state, dict) else state
        fail(f"MyLinear(5, 3).state_dict() has keys {keys}, expected ['bias', 'weight']: wrap both in nn.Parameter")
    expect_tensor(
        state["weight"],
        "MyLinear(5, 3).weight",
        shape=(3, 5),
        shape_hints={(5, 3): "is W transposed? nn.Linear stores weight as (out_features, in_features)"},
    )
    expect_tensor(state["bias"], "MyLinear(5, 3).bias", shape=(3,))
    if float(state["weight"].double().std()) == 0.0:
        fail("MyLinear(5, 3).weight is constant: initialise it randomly so the neurons can learn different features")


@part("linear")
@points(2)
def test_my_linear_matches_nn_linear(student):
    """MyLinear gives nn.Linear's outputs once the same weights are loaded"""
    W, b = _layer(5, 3, 9)
    layer = student.MyLinear.handle(5, 3)
    layer.load_state_dict({"weight": W, "bias": b})
    for shape in ((4, 5), (5,)):
        x = torch.randn(*shape, generator=_generator(10))
        what = f"MyLinear(5, 3) with nn.Linear's weights, called on <x {shape}>"
        with hint_on_error(NOT_TRANSPOSED):
            out = layer(x)
        expect_close(out, F.linear(x.double(), W.double(), b.double()), what)


@part("linear")
@points(1)
def test_count_parameters(student):
    """count_parameters counts weights and biases: 784-50-20-10 has 40,480"""
    cases = (([784, 50], 39_250), ([784, 50, 20, 10], 40_480), ([200 * 200, 500], 20_000_500))
    for sizes, expected in cases:
        got = student.count_parameters(sizes)
        without_bias = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        hint = "count the biases too: one per output unit" if got == without_bias else None
        expect_equal(got, expected, f"count_parameters({sizes})", hint)


# -- 3. activations, softmax, losses -------------------------------------------------------------------------------


def _inputs(seed: int) -> torch.Tensor:
    return torch.cat([torch.randn(200, generator=_generator(seed)) * 4, torch.tensor([-8.0, -1e-3, 0.0, 1e-3, 8.0])])


@part("activations")
@points(1)
def test_relu_and_leaky_relu(student):
    """relu and leaky_relu match torch's"""
    x = _inputs(11)
    expect_close(student.relu(x), torch.relu(x.double()), "relu(<x (205,)>)")
    expect_close(
        student.leaky_relu(x, 0.2),
        F.leaky_relu(x.double(), 0.2),
        "leaky_relu(<x (205,)>, 0.2)",
        hints={"the slope argument is ignored": F.leaky_relu(x.double(), 0.01)},
    )


@part("activations")
@points(1)
def test_sigmoid(student):
    """sigmoid matches torch.sigmoid"""
    x = _inputs(12)
    expect_close(
        student.sigmoid(x),
        torch.sigmoid(x.double()),
        "sigmoid(<x (205,)>)",
        hints={"that is e^x / (1 + e^x) of -x: check the sign of the exponent": torch.sigmoid(-x.double())},
    )


@part("activations")
@points(1)
def test_tanh(student):
    """tanh matches torch.tanh"""
    x = _inputs(13)
    expect_close(student.tanh(x), torch.tanh(x.double()), "tanh(<x (205,)>)")


@part("activations")
@points(1)
def test_elu(student):
    """elu matches F.elu, for the default and another alpha"""
    x = _inputs(14)
    expect_close(student.elu(x), F.elu(x.double()), "elu(<x (205,)>)")
    expect_close(
        student.elu(x, alpha=0.5),
        F.elu(x.double(), alpha=0.5),
        "elu(<x (205,)>, alpha=0.5)",
        hints={"the alpha argument is ignored": F.elu(x.double())},
    )


@part("activations")
@points(1)
def test_softmax_rows(student):
    """softmax turns each row of (4, 6) scores into probabilities"""
    logits = torch.randn(4, 6, generator=_generator(15))
    hints = {"that normalises down the columns: use dim=-1 (each row sums to 1)": torch.softmax(logits.double(), dim=0)}
    expect_close(
        student.softmax(logits), torch.softmax(logits.double(), dim=-1), "softmax(<logits (4, 6)>)", hints=hints
    )
    expect_close(
        student.softmax(logits, dim=0), torch.softmax(logits.double(), dim=0), "softmax(<logits (4, 6)>, dim=0)"
    )


@part("activations")
@points(1)
def test_softmax_large_logits(student):
    """softmax stays finite for logits around 1000 and -1000"""
    logits = torch.tensor([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0]])
    hints = {"e^1000 overflows: subtract each row's maximum before exponentiating": torch.full((2, 3), float("nan"))}
    expect_close(
        student.softmax(logits), torch.softmax(logits.double(), dim=-1), "softmax(<logits of about ±1000>)", hints=hints
    )


@part("activations")
@points(1)
def test_cross_entropy(student):
    """cross_entropy matches F.cross_entropy on a batch of 8 with 10 classes"""
    logits = torch.randn(8, 10, generator=_generator(16)) * 3
    targets = torch.randint(0, 10, (8,), generator=_generator(17))
    expected = F.cross_entropy(logits.double(), targets)
    hints = {
        "that is 8 times too large: average over the batch, do not sum": expected * 8,
        "the sign is flipped: the loss is -log p": -expected,
    }
    got = student.cross_entropy(logits, targets)
    expect_close(
        torch.as_tensor(got).reshape(()),
        expected,
        "cross_entropy(<logits (8, 10)>, <targets (8,)>)",
        rtol=1e-5,
        hints=hints,
    )


@part("activations")
@points(1)
def test_cross_entropy_large_logits(student):
    """cross_entropy stays finite and correct for logits in the thousands"""
    logits = torch.randn(6, 5, generator=_generator(18)) * 1000
    targets = torch.randint(0, 5, (6,), generator=_generator(19))
    got = torch.as_tensor(student.cross_entropy(logits, targets)).reshape(())
    what = "cross_entropy(<logits of about ±1000>)"
    if not bool(torch.isfinite(got)):
        stable = "z - max - log(sum(e^(z - max)))"
        fail(f"{what} returned {got.item()}: e^1000 overflows and log(0) is -inf; use the stable log-softmax, {stable}")
    expect_close(got, F.cross_entropy(logits.double(), targets), what, rtol=1e-5)


@part("activations")
@points(1)
def test_mse(student):
    """mse matches F.mse_loss"""
    pred, target = torch.randn(12, generator=_generator(20)), torch.randn(12, generator=_generator(21))
    expected = F.mse_loss(pred.double(), target.double())
    got = student.mse(pred, target)
    expect_close(
        torch.as_tensor(got).reshape(()),
        expected,
        "mse(<pred (12,)>, <target (12,)>)",
        hints={"that is 12 times too large: take the mean, not the sum": expected * 12},
    )


# -- 4. gradients ----------------------------------------------------------------------------------------------


def _reference_gradients(x, W, b, targets):
    W = W.double().clone().requires_grad_(True)
    b = b.double().clone().requires_grad_(True)
    F.cross_entropy(F.linear(x.double(), W, b), targets).backward()
    return W.grad, b.grad


@part("gradients")
@points(1)
def test_layer_gradients(student):
    """layer_gradients matches autograd through nn.Linear and F.cross_entropy"""
    W, b = _layer(4, 3, 22)
    x, targets = torch.randn(6, 4, generator=_generator(23)), torch.randint(0, 3, (6,), generator=_generator(24))
    got = student.layer_gradients(x, W, b, targets)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"layer_gradients(...) returned {type(got).__name__}, expected the pair (dW, db)")
    dW, db = _reference_gradients(x, W, b, targets)
    expect_close(got[0], dW, "layer_gradients(...)[0] (dW)", rtol=1e-4, atol=1e-6, hints={"is dW transposed?": dW.T})
    expect_close(got[1], db, "layer_gradients(...)[1] (db)", rtol=1e-4, atol=1e-6)


@part("gradients")
@points(1)
def test_layer_gradients_repeatable(student):
    """layer_gradients leaves W and b alone and gives the same answer twice"""
    W, b = _layer(4, 2, 25)
    x, targets = torch.randn(3, 4, generator=_generator(26)), torch.tensor([1, 0, 1])
    remote_W, remote_b = student.put(W), student.put(b)
    student.layer_gradients(x, remote_W, remote_b, targets)
    got = student.layer_gradients(x, remote_W, remote_b, targets)
    dW, _ = _reference_gradients(x, W, b, targets)
    expect_close(
        got[0],
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


@part("mlp")
@points(1)
def test_mlp_output_shape(student):
    """MLP maps (N, 1, 28, 28) images to (N, 10) scores, for N = 16 and N = 1"""
    model = _mlp(student)
    for n in (16, 1):
        x = torch.rand(n, 1, 28, 28, generator=_generator(27))
        try:
            out = model(x)
        except Exception as exc:
            if "cannot be multiplied" in str(exc):
                fail(f"{exc}: flatten each image to 784 features inside forward, keeping the batch dimension")
            raise
        expect_tensor(out, f"MLP()(<images ({n}, 1, 28, 28)>)", shape=(n, 10))


@part("mlp")
@points(1)
def test_mlp_layers(student):
    """MLP has the 784-50-20-10 layers: 40,480 parameters"""
    state = _mlp(student).state_dict()
    if not isinstance(state, dict):
        fail("MLP().state_dict() is not a dictionary of tensors")
    shapes = sorted(tuple(t.shape) for t in state.values())
    expected = sorted([(50, 784), (50,), (20, 50), (20,), (10, 20), (10,)])
    expect_equal(shapes, expected, "the shapes of MLP()'s parameters")


@part("mlp")
@points(1)
def test_mlp_is_its_layers(student):
    """MLP's output is its layers applied in order with ReLU between them (logits, no softmax)"""
    model = _mlp(student)
    state = model.state_dict()
    weights = [t.double() for t in state.values()]
    by_shape = {tuple(t.shape): t for t in weights}
    x = torch.rand(5, 1, 28, 28, generator=_generator(28))
    h = F.relu(
        F.linear(
            x.reshape(5, -1).double(),
            by_shape.get((50, 784), torch.zeros(50, 784)),
            by_shape.get((50,), torch.zeros(50)),
        )
    )
    h = F.relu(F.linear(h, by_shape.get((20, 50), torch.zeros(20, 50)), by_shape.get((20,), torch.zeros(20))))
    logits = F.linear(h, by_shape.get((10, 20), torch.zeros(10, 20)), by_shape.get((10,), torch.zeros(10)))
    hints = {
        "the output went through softmax: return logits; cross-entropy applies softmax itself": torch.softmax(
            logits, dim=1
        ),
        "the output went through ReLU: the last layer's scores must be able to go negative": F.relu(logits),
    }
    expect_close(model(x), logits, "MLP()(<images (5, 1, 28, 28)>)", rtol=1e-4, atol=1e-5, hints=hints)
