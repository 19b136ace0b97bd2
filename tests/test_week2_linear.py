"""Week 2: full marks for the solution and for differently written correct code; each mistake loses its part only."""

from __future__ import annotations

import pytest
from helpers import assert_full_marks, assert_loses_only, grade, submission

from autograder.course.weeks import get_week

WEEK = "week2_linear"

MISTAKES = {
    "transposed W": (
        {"linear_forward": "def linear_forward(x, W, b):\n    return x @ W + b"},
        "linear",
        "is W transposed?",
    ),
    "x @ W with a non-square W": (
        {
            "MyLinear": """
class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * 0.01)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return x @ self.weight + self.bias
"""
        },
        "linear",
        "in forward: return x @ self.weight + self.bias): is W transposed? x @ W needs W as (in, out)",
    ),
    "bias added per row instead of per column": (
        {"linear_forward": "def linear_forward(x, W, b):\n    return x @ W.T + b.reshape(-1, 1)"},
        "linear",
        "the bias is added per row",
    ),
    "weight stored as (in, out)": (
        {
            "MyLinear": """
class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features) * 0.01)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return x @ self.weight + self.bias
"""
        },
        "linear",
        "nn.Linear stores weight as (out_features, in_features)",
    ),
    "weights initialised a hundred times too large": (
        {
            "MyLinear": """
class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / 0.01)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return x @ self.weight.T + self.bias
"""
        },
        "linear",
        "initialise with small random values",
    ),
    "weights not registered as parameters": (
        {
            "MyLinear": """
class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = torch.randn(out_features, in_features) * 0.01
        self.bias = torch.zeros(out_features)

    def forward(self, x):
        return x @ self.weight.T + self.bias
"""
        },
        "linear",
        "wrap both in nn.Parameter",
    ),
    "parameters counted without biases": (
        {
            "count_parameters": "def count_parameters(layer_sizes):\n"
            "    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))"
        },
        "linear",
        "count the biases too",
    ),
    "softmax over the wrong dim": (
        {
            "softmax": "def softmax(logits, dim=-1):\n"
            "    e = torch.exp(logits - logits.max())\n"
            "    return e / e.sum(dim=0, keepdim=True)"
        },
        "activations",
        "use dim=-1 (each row sums to 1)",
    ),
    "softmax that overflows on logits of 1000": (
        {
            "softmax": "def softmax(logits, dim=-1):\n"
            "    e = torch.exp(logits)\n"
            "    return e / e.sum(dim=dim, keepdim=True)"
        },
        "activations",
        "e^1000 overflows: subtract each row's maximum",
    ),
    "cross-entropy summed over the batch": (
        {
            "cross_entropy": "def cross_entropy(logits, targets):\n"
            "    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)\n"
            "    return -log_p[torch.arange(len(targets)), targets].sum()"
        },
        "activations",
        "average over the batch, do not sum",
    ),
    "cross-entropy as log of softmax": (
        {
            "cross_entropy": "def cross_entropy(logits, targets):\n"
            "    p = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)\n"
            "    return -torch.log(p[torch.arange(len(targets)), targets]).mean()"
        },
        "activations",
        "use the stable log-softmax",
    ),
    "sigmoid with the wrong sign": (
        {"sigmoid": "def sigmoid(x):\n    return 1 / (1 + torch.exp(x))"},
        "activations",
        "check the sign of the exponent",
    ),
    "leaky ReLU ignoring its slope": (
        {"leaky_relu": "def leaky_relu(x, slope=0.01):\n    return torch.where(x > 0, x, 0.01 * x)"},
        "activations",
        "the slope argument is ignored",
    ),
    "step at >= 0 instead of > 0": (
        {
            "perceptron": "def perceptron(inputs, w):\n"
            "    w = torch.as_tensor(w, dtype=torch.float32)\n"
            "    return (w[0] + inputs.float() @ w[1:] >= 0).float()"
        },
        "neuron",
        "a sum of exactly 0 must give 0",
    ),
    "XOR built as OR": (
        {"xor_network": "def xor_network(inputs):\n    return perceptron(inputs, OR_WEIGHTS)"},
        "neuron",
        "that is OR, not XOR",
    ),
    "gradients accumulating in the caller's W": (
        {
            "layer_gradients": "def layer_gradients(x, W, b, targets):\n"
            "    W.requires_grad_(True); b.requires_grad_(True)\n"
            "    F.cross_entropy(x @ W.T + b, targets).backward()\n"
            "    return W.grad, b.grad"
        },
        "gradients",
        ".grad accumulates",
    ),
    "ReLU from PyTorch, not its formula": (
        {"relu": "def relu(x):\n    return torch.relu(x)"},
        "activations",
        "called PyTorch's relu: this part asks you to write the formula itself",
    ),
    "softmax that shifts the caller's logits in place": (
        {
            "softmax": "def softmax(logits, dim=-1):\n    logits -= logits.max(dim=dim, keepdim=True).values\n"
            "    e = torch.exp(logits)\n    return e / e.sum(dim=dim, keepdim=True)"
        },
        "activations",
        "changed the caller's tensor in place",
    ),
    "mse returned as float64": (
        {"mse": "def mse(pred, target):\n    return ((pred - target) ** 2).mean().double()"},
        "activations",
        "expected dtype float32, got float64",
    ),
    "perceptron returning bools": (
        {
            "perceptron": "def perceptron(inputs, w):\n    w = torch.as_tensor(w, dtype=torch.float32)\n"
            "    with_bias = torch.cat([torch.ones(inputs.shape[0], 1), inputs.float()], dim=1)\n"
            "    return with_bias @ w > 0"
        },
        "neuron",
        "expected dtype float32, got bool",
    ),
    "perceptron that cannot take integer inputs": (
        {
            "perceptron": "def perceptron(inputs, w):\n    w = torch.tensor(w, dtype=torch.float32)\n"
            "    return (inputs @ w[1:] + w[0] > 0).float()"
        },
        "neuron",
        "perceptron(<tensor of shape (4, 2), int64>, (0, 1, -1)) raised RuntimeError",
    ),
    "XOR by a formula, not by perceptrons": (
        {"xor_network": "def xor_network(inputs):\n    return (inputs[:, 0] != inputs[:, 1]).float()"},
        "neuron",
        "build XOR from two layers of them",
    ),
    "linear_forward squeezing a batch of one": (
        {"linear_forward": "def linear_forward(x, W, b):\n    return (x @ W.T + b).squeeze()"},
        "linear",
        "expected shape (1, 3), got (3,): keep the batch dimension",
    ),
    "bias kept as a buffer": (
        {
            "MyLinear": "class MyLinear(nn.Module):\n    def __init__(self, in_features, out_features):\n"
            "        super().__init__()\n"
            "        self.weight = nn.Parameter(torch.randn(out_features, in_features) * 0.01)\n"
            "        self.register_buffer('bias', torch.zeros(out_features))\n"
            "    def forward(self, x):\n        return x @ self.weight.T + self.bias"
        },
        "linear",
        "a buffer or a plain tensor is saved but never trained",
    ),
    "MLP as one nn.Sequential, without the layer names": (
        {
            "MLP": "class MLP(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 20),\n"
            "                                 nn.ReLU(), nn.Linear(20, 10))\n"
            "    def forward(self, images):\n        return self.net(images)"
        },
        "mlp",
        "the part asks for nn.Linear layers named fc1, fc2 and fc3",
    ),
    "MLP forgets to flatten": (
        {
            "MLP": """
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.fc2 = nn.Linear(50, 20)
        self.fc3 = nn.Linear(20, 10)

    def forward(self, images):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(images)))))
"""
        },
        "mlp",
        "flatten each image to 784 features inside forward",
    ),
    "MLP returns probabilities": (
        {
            "MLP": """
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.fc2 = nn.Linear(50, 20)
        self.fc3 = nn.Linear(20, 10)

    def forward(self, images):
        x = F.relu(self.fc1(images.flatten(1)))
        return torch.softmax(self.fc3(F.relu(self.fc2(x))), dim=1)
"""
        },
        "mlp",
        "the output went through softmax",
    ),
}

VARIANTS = {
    "clamps, reciprocals, einsum and a heaviside step": {
        "relu": "def relu(x):\n    return x * (x > 0)",
        "leaky_relu": "def leaky_relu(x, slope=0.01):\n    return torch.where(x >= 0, x, x * slope)",
        "sigmoid": "def sigmoid(x):\n    return (1 + (-x).exp()).reciprocal()",
        "mse": "def mse(pred, target):\n    return torch.mean((pred - target).pow(2))",
        "linear_forward": "def linear_forward(x, W, b):\n    return torch.einsum('...i,oi->...o', x, W) + b",
        "perceptron": "def perceptron(inputs, w):\n    w = torch.tensor([float(v) for v in w])\n"
        "    sums = w[0] + inputs.to(w.dtype) @ w[1:]\n    return torch.heaviside(sums, torch.tensor(0.0))",
    },
    "a NAND perceptron of its own, dot products and torch.autograd.grad": {
        "weighted_sum": "def weighted_sum(x, w):\n    return torch.dot(x, w)",
        "xor_network": "NAND_WEIGHTS = (1.5, -1.0, -1.0)\n\n\ndef xor_network(inputs):\n"
        "    hidden = torch.stack([perceptron(inputs, OR_WEIGHTS), perceptron(inputs, NAND_WEIGHTS)], dim=1)\n"
        "    return perceptron(hidden, AND_WEIGHTS)",
        "layer_gradients": "def layer_gradients(x, W, b, targets):\n"
        "    W, b = W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()\n"
        "    return torch.autograd.grad(F.cross_entropy(x @ W.T + b, targets), (W, b))",
        "mse": "def mse(pred, target):\n    diff = pred - target\n    return (diff * diff).sum() / diff.numel()",
    },
    "softmax by logsumexp, tanh by exponentials, an ELU by masks": {
        "softmax": "def softmax(logits, dim=-1):\n    return torch.exp(logits - torch.logsumexp(logits, dim, True))",
        "tanh": "def tanh(x):\n    e = torch.exp(-2 * x.abs())\n"
        "    return torch.where(x >= 0, (1 - e) / (1 + e), (e - 1) / (1 + e))",
        "elu": "def elu(x, alpha=1.0):\n    negative = alpha * (torch.exp(torch.minimum(x, torch.zeros_like(x))) - 1)\n"
        "    return torch.where(x > 0, x, negative)",
        "count_parameters": "def count_parameters(layer_sizes):\n"
        "    return sum((a + 1) * b for a, b in zip(layer_sizes, layer_sizes[1:]))",
    },
    "loops and matmul instead of vectorised code": {
        "weighted_sum": "def weighted_sum(x, w):\n    total = 0.0\n    for xi, wi in zip(x, w):\n"
        "        total = total + xi * wi\n    return total",
        "linear_forward": "def linear_forward(x, W, b):\n    return torch.matmul(x, W.t()) + b.unsqueeze(0).squeeze(0)",
        "count_parameters": "def count_parameters(layer_sizes):\n    total = 0\n"
        "    for i in range(len(layer_sizes) - 1):\n"
        "        total += layer_sizes[i] * layer_sizes[i + 1] + layer_sizes[i + 1]\n    return total",
        "relu": "def relu(x):\n    return x.clamp(min=0)",
    },
    "helper functions of their own and logsumexp": {
        "softmax": "def _shift(z, dim):\n    return z - z.amax(dim=dim, keepdim=True)\n\n\n"
        "def softmax(logits, dim=-1):\n    e = _shift(logits, dim).exp()\n    return e / e.sum(dim, keepdim=True)",
        "cross_entropy": "def cross_entropy(logits, targets):\n"
        "    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)\n"
        "    picked = log_probs.gather(1, targets.view(-1, 1))\n    return -picked.mean()",
        "sigmoid": "def sigmoid(x):\n    return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))",
        "tanh": "def tanh(x):\n    e2 = torch.exp(-2 * x.abs())\n    return torch.sign(x) * (1 - e2) / (1 + e2)",
    },
    "nn.Flatten and nn.ReLU modules beside the named layers, and Kaiming init": {
        "MLP": """
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten, self.act = nn.Flatten(), nn.ReLU()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 50), nn.Linear(50, 20), nn.Linear(20, 10)

    def forward(self, images):
        return self.fc3(self.act(self.fc2(self.act(self.fc1(self.flatten(images))))))
""",
        "MyLinear": """
class MyLinear(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.weight)

    def forward(self, inputs):
        return inputs @ self.weight.T + self.bias
""",
    },
}


def test_solution_scores_full_marks():
    """Does the reference solution earn every point?"""
    report = grade(get_week(WEEK).solution)
    assert_full_marks(report)
    assert report.max_score == 26


def test_stub_scores_zero_without_grader_errors():
    """Does the unmodified stub score 0 with no grader crash?"""
    report = grade(get_week(WEEK).stub)
    assert report.score == 0 and report.max_score == 26
    assert not any(t.grader_error for t in report.tests)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_loses_only_its_part(tmp_path, mistake):
    """Does each realistic mistake lose points in the part it breaks, with feedback naming it, and only there?"""
    functions, broken_part, feedback = MISTAKES[mistake]
    assert_loses_only(grade(submission(tmp_path, WEEK, functions)), broken_part, feedback)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_correct_variants_score_full_marks(tmp_path, variant):
    """Does correct code written differently from the reference get every point?"""
    assert_full_marks(grade(submission(tmp_path, WEEK, VARIANTS[variant])))
