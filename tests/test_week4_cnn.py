"""Week 4: full marks for the solution and for differently written correct loops; each mistake loses its part.

Every submission here is graded with the weights the solution notebook itself trained (the ``week4_weights``
fixture runs it once), handed in beside the notebook as a student would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import assert_full_marks, assert_loses_only, grade, submission

from autograder.course.weeks import get_week

WEEK = "week4_cnn"
WEIGHTS = ("week4_cnn.pt", "week4_ff.pt")

TRAIN = """
def train_one_epoch(model, loader, optimizer, device=DEVICE):
{setup}    total = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
{zero}        loss = F.nll_loss(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return {result}
"""
EVALUATE = """
def evaluate(model, loader, device=DEVICE):
{setup}    loss, correct, count = 0.0, 0, 0
    with {context}:
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            output = model(images)
            loss += F.nll_loss(output, labels, reduction="sum").item()
            correct += (output.argmax(dim=1) == labels).sum().item()
            count += len(labels)
    return {result}
"""
RIGHT_TRAIN = {
    "setup": "    model.train()\n",
    "zero": "        optimizer.zero_grad()\n",
    "result": "total / len(loader)",
}
RIGHT_EVALUATE = {
    "setup": "    model.eval()\n",
    "context": "torch.no_grad()",
    "result": "loss / count, correct / count",
}


def _train(**changes: str) -> str:
    return TRAIN.format(**{**RIGHT_TRAIN, **changes})


def _evaluate(**changes: str) -> str:
    return EVALUATE.format(**{**RIGHT_EVALUATE, **changes})


MISTAKES = {
    "labels left on the CPU": (
        {
            "train_one_epoch": _train().replace(
                "images, labels = images.to(device), labels.to(device)", "images = images.to(device)"
            )
        },
        "train_one_epoch",
        "which a GPU refuses: move the labels too",
    ),
    "batches never sent to the device": (
        {"evaluate": _evaluate().replace("images, labels = images.to(device), labels.to(device)", "pass")},
        "evaluate",
        "was given inputs on cpu: move each batch with images.to(device)",
    ),
    "the mean loss as a tensor": (
        {"train_one_epoch": _train().replace("total += loss.item()", "total += loss.detach()")},
        "train_one_epoch",
        "returned a tensor, expected a Python float",
    ),
    "a fixed number of batches": (
        {"train_one_epoch": _train(result="total / 5")},
        "train_one_epoch",
        "not a fixed count",
    ),
    "a confusion matrix with autograd on": (
        {
            "confusion_matrix": "def confusion_matrix(model, loader, device=DEVICE, num_classes=10):\n"
            "    model.eval()\n    counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)\n"
            "    for images, labels in loader:\n"
            "        predicted = model(images.to(device)).argmax(dim=1).cpu()\n"
            "        for t, p in zip(labels.tolist(), predicted.tolist()):\n            counts[t, p] += 1\n"
            "    return counts"
        },
        "confusion",
        "predict inside `with torch.no_grad():`",
    ),
    "no normalisation": (
        {"TRANSFORM": "TRANSFORM = transforms.ToTensor()"},
        "data",
        "scaled to [0, 1] but not normalised",
    ),
    "MNIST's mean and std": (
        {
            "TRANSFORM": "TRANSFORM = transforms.Compose(\n"
            "    [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])"
        },
        "data",
        "these are MNIST's mean and std",
    ),
    "a shuffled test loader": (
        {
            "make_loaders": "def make_loaders(train_set, test_set, batch_size=64, test_batch_size=1000):\n"
            "    return (DataLoader(train_set, batch_size=batch_size, shuffle=True),\n"
            "            DataLoader(test_set, batch_size=test_batch_size, shuffle=True))"
        },
        "data",
        "the test loader shuffles",
    ),
    "ReLU in the fully connected net": (
        {
            "NetFF": "class NetFF(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.fc1, self.fc2 = nn.Linear(784, 500), nn.Linear(500, 300)\n"
            "        self.fc3, self.fc4 = nn.Linear(300, 100), nn.Linear(100, 10)\n"
            "    def forward(self, x):\n        x = F.relu(self.fc1(x.view(-1, 784)))\n"
            "        x = F.relu(self.fc3(F.relu(self.fc2(x))))\n        return F.log_softmax(self.fc4(x), dim=1)"
        },
        "models",
        "the hidden layers use ReLU",
    ),
    "a CNN without log_softmax": (
        {
            "NetCNN": "class NetCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)\n"
            "        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)\n"
            "    def forward(self, x):\n        x = F.max_pool2d(F.relu(self.conv1(x)), 2)\n"
            "        x = F.max_pool2d(F.relu(self.conv2(x)), 2)\n"
            "        return self.fc2(F.relu(self.fc1(x.view(-1, 800))))"
        },
        "models",
        "end with F.log_softmax(x, dim=1)",
    ),
    "a CNN with the wrong flattened size": (
        {
            "NetCNN": "class NetCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)\n"
            "        self.fc1, self.fc2 = nn.Linear(50 * 5 * 5, 500), nn.Linear(500, 10)\n"
            "    def forward(self, x):\n        x = F.max_pool2d(F.relu(self.conv1(x)), 2)\n"
            "        x = F.max_pool2d(F.relu(self.conv2(x)), 2)\n"
            "        return F.log_softmax(self.fc2(F.relu(self.fc1(x.view(-1, 50 * 5 * 5)))), dim=1)"
        },
        "models",
        "fc1's input is 50 channels of 4x4 (28 -> 24 -> 12 -> 8 -> 4) = 800",
    ),
    "no zero_grad": ({"train_one_epoch": _train(zero="")}, "train_one_epoch", "call optimizer.zero_grad()"),
    "no model.train()": ({"train_one_epoch": _train(setup="")}, "train_one_epoch", "call model.train() at the start"),
    "the summed loss": (
        {"train_one_epoch": _train(result="total")},
        "train_one_epoch",
        "divide by the number of batches",
    ),
    "evaluating in training mode": (
        {"evaluate": _evaluate(setup="")},
        "evaluate",
        "the loss is the training-mode one: call model.eval() first",
    ),
    "evaluating with autograd on": (
        {"evaluate": _evaluate(context="torch.enable_grad()")},
        "evaluate",
        "wrap the loop in `with torch.no_grad():`",
    ),
    "accuracy in percent": (
        {"evaluate": _evaluate(result="loss / count, 100 * correct / count")},
        "evaluate",
        "the accuracy is a percentage",
    ),
    "backward in evaluation": (
        {
            "evaluate": "def evaluate(model, loader, device=DEVICE):\n    model.eval()\n"
            "    loss, correct, count = 0.0, 0, 0\n    for images, labels in loader:\n"
            "        output = model(images.to(device))\n        batch = F.nll_loss(output, labels, reduction='sum')\n"
            "        batch.backward()\n        loss += batch.item()\n"
            "        correct += (output.argmax(dim=1) == labels).sum().item()\n        count += len(labels)\n"
            "    return loss / count, correct / count"
        },
        "evaluate",
        "hold gradients: evaluation never calls backward()",
    ),
    "a transposed confusion matrix": (
        {
            "confusion_matrix": "def confusion_matrix(model, loader, device=DEVICE, num_classes=10):\n"
            "    model.eval()\n    counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)\n"
            "    with torch.no_grad():\n        for images, labels in loader:\n"
            "            for t, p in zip(labels.tolist(), model(images).argmax(dim=1).tolist()):\n"
            "                counts[p, t] += 1\n    return counts"
        },
        "confusion",
        "the matrix is transposed",
    ),
    "a confusion matrix for ten classes always": (
        {
            "confusion_matrix": "def confusion_matrix(model, loader, device=DEVICE, num_classes=10):\n"
            "    model.eval()\n    counts = torch.zeros(10, 10, dtype=torch.int64)\n"
            "    with torch.no_grad():\n        for images, labels in loader:\n"
            "            for t, p in zip(labels.tolist(), model(images).argmax(dim=1).tolist()):\n"
            "                counts[t, p] += 1\n    return counts"
        },
        "confusion",
        "expected shape (4, 4), got (10, 10)",
    ),
}

VARIANTS = {
    "batches unpacked by a generator, losses by float(), a mean over len(loader)": {
        "train_one_epoch": "def train_one_epoch(model, loader, optimizer, device=DEVICE):\n    model.train()\n"
        "    losses = []\n    for batch in loader:\n        images, labels = (t.to(device) for t in batch)\n"
        "        optimizer.zero_grad(set_to_none=False)\n        loss = F.nll_loss(model(images), labels)\n"
        "        loss.backward()\n        optimizer.step()\n        losses.append(float(loss))\n"
        "    return sum(losses) / max(1, len(loader))",
    },
    "outputs brought back to the CPU, no_grad as a decorator": {
        "evaluate": "@torch.no_grad()\ndef evaluate(model, loader, device=DEVICE):\n    model.eval()\n"
        "    total, right, seen = 0.0, 0, 0\n    for images, labels in loader:\n"
        "        output = model(images.to(device)).cpu()\n"
        "        total += F.nll_loss(output, labels, reduction='sum').item()\n"
        "        right += int((output.argmax(dim=1) == labels).sum())\n        seen += labels.numel()\n"
        "    return total / seen, right / seen",
    },
    "index_put_ with accumulate, predictions moved back first": {
        "confusion_matrix": "def confusion_matrix(model, loader, device=DEVICE, num_classes=10):\n    model.eval()\n"
        "    counts = torch.zeros((num_classes, num_classes), dtype=torch.long)\n"
        "    with torch.no_grad():\n        for images, labels in loader:\n"
        "            guesses = model(images.to(device)).argmax(1).to('cpu')\n"
        "            counts.index_put_((labels, guesses), torch.ones_like(labels), accumulate=True)\n"
        "    return counts",
    },
    "Sequential-free modules, tqdm and set_to_none": {
        "NetCNN": "class NetCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(in_channels=1, out_channels=20, kernel_size=5)\n"
        "        self.conv2 = nn.Conv2d(20, 50, kernel_size=(5, 5))\n        self.pool = nn.MaxPool2d(2)\n"
        "        self.fc1 = nn.Linear(800, 500)\n        self.fc2 = nn.Linear(500, 10)\n"
        "    def forward(self, x):\n        x = self.pool(torch.relu(self.conv1(x)))\n"
        "        x = self.pool(torch.relu(self.conv2(x)))\n"
        "        return torch.log_softmax(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))), dim=-1)",
        "train_one_epoch": "def train_one_epoch(model, loader, optimizer, device=DEVICE):\n    model.train()\n"
        "    losses = []\n    for step, (x, y) in enumerate(tqdm(loader, leave=False)):\n"
        "        optimizer.zero_grad(set_to_none=True)\n"
        "        loss = nn.NLLLoss()(model(x.to(device)), y.to(device))\n"
        "        loss.backward()\n        optimizer.step()\n        losses.append(loss.item())\n"
        "    return float(np.mean(losses))",
    },
    "inference_mode, cross_entropy and bincount": {
        "evaluate": "def evaluate(model, loader, device=DEVICE):\n    model.eval()\n    outputs, targets = [], []\n"
        "    with torch.inference_mode():\n        for x, y in loader:\n"
        "            outputs.append(model(x.to(device)).cpu())\n            targets.append(y)\n"
        "    out, y = torch.cat(outputs), torch.cat(targets)\n"
        "    loss = F.cross_entropy(out, y, reduction='mean').item()\n"
        "    return loss, (out.argmax(1) == y).float().mean().item()",
        "confusion_matrix": "def confusion_matrix(model, loader, device=DEVICE, num_classes=10):\n"
        "    model.eval()\n    pairs = []\n    with torch.no_grad():\n        for x, y in loader:\n"
        "            pairs.append(y * num_classes + model(x.to(device)).argmax(1).cpu())\n"
        "    flat = torch.bincount(torch.cat(pairs), minlength=num_classes ** 2)\n"
        "    return flat.reshape(num_classes, num_classes)",
    },
    "model.zero_grad, a weighted mean and flatten-first nets": {
        "train_one_epoch": "def train_one_epoch(model, loader, optimizer, device=DEVICE):\n    model.train(True)\n"
        "    seen, total = 0, 0.0\n    for x, y in loader:\n        x, y = x.to(device), y.to(device)\n"
        "        model.zero_grad()\n        loss = F.nll_loss(model(x), y)\n        loss.backward()\n"
        "        optimizer.step()\n        total += loss.item() * len(y)\n        seen += len(y)\n"
        "    return total / seen",
        "NetFF": "class NetFF(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        sizes = [784, 500, 300, 100, 10]\n"
        "        for i in range(4):\n            setattr(self, f'fc{i + 1}', nn.Linear(sizes[i], sizes[i + 1]))\n"
        "    def forward(self, x):\n        x = torch.flatten(x, start_dim=1)\n"
        "        for layer in (self.fc1, self.fc2, self.fc3):\n            x = F.tanh(layer(x))\n"
        "        return self.fc4(x).log_softmax(dim=1)",
        "TRANSFORM": "TRANSFORM = transforms.Compose(\n"
        "    [transforms.ToTensor(), transforms.Normalize(mean=[0.2860], std=[0.3530])]\n)",
        "make_loaders": "def make_loaders(train_set, test_set,\n"
        "                 batch_size=BATCH_SIZE, test_batch_size=TEST_BATCH_SIZE):\n"
        "    kwargs = dict(num_workers=0)\n"
        "    return DataLoader(train_set, batch_size, True, **kwargs), DataLoader(test_set, test_batch_size, **kwargs)",
    },
}


def _hand_in(notebook: Path, weights: Path, names: tuple[str, ...] = WEIGHTS) -> Path:
    for name in names:
        shutil.copyfile(weights / name, notebook.parent / name)
    return notebook


def _submission(tmp_path: Path, weights: Path, functions: dict[str, str] | None = None) -> Path:
    """The solution with ``functions`` rewritten, and the solution's trained weights handed in beside it."""
    return _hand_in(submission(tmp_path, WEEK, functions or {}), weights)


def _solution_copy(weights: Path) -> Path:
    """The solution notebook the fixture ran, in the folder where it saved its weights."""
    return weights / f"{WEEK}.ipynb"


def test_solution_scores_full_marks(week4_weights):
    """Does the reference solution, with the weights it trained, earn every point?"""
    report = grade(_solution_copy(week4_weights))
    assert_full_marks(report)
    assert report.max_score == 30


def test_stub_scores_zero_without_grader_errors():
    """Does the unmodified stub, with no weights handed in, score 0 with no grader crash?"""
    report = grade(get_week(WEEK).stub)
    assert report.score == 0 and report.max_score == 30
    assert not any(t.grader_error for t in report.tests)
    assert any("week4_cnn.pt was not handed in" in t.output for t in report.tests)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_loses_its_part(tmp_path, week4_weights, mistake):
    """Does each realistic mistake lose points in its part only, with feedback naming it?"""
    functions, broken_part, feedback = MISTAKES[mistake]
    assert_loses_only(grade(_submission(tmp_path, week4_weights, functions)), broken_part, feedback)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_correct_variants_score_full_marks(tmp_path, week4_weights, variant):
    """Does correct code written differently from the reference get every point?"""
    assert_full_marks(grade(_submission(tmp_path, week4_weights, VARIANTS[variant])))


def test_untrained_weights_score_nothing_in_trained(tmp_path, week4_weights):
    """Do freshly initialised weights, handed in under the right names, earn none of the trained points?"""
    path = _submission(tmp_path, week4_weights)
    torch.manual_seed(0)
    cnn = {name: torch.randn_like(t) * 0.01 for name, t in torch.load(path.parent / "week4_cnn.pt").items()}
    torch.save(cnn, path.parent / "week4_cnn.pt")
    report = grade(path)
    assert_loses_only(report, "trained", "week4_cnn.pt (NetCNN) reaches")
    by_part = report.by_part()
    assert by_part["trained"] == (2.0, 6.0), "the untouched week4_ff.pt keeps its 2 points"


def test_weights_handed_in_wrongly_are_named(tmp_path, week4_weights):
    """A pickled model, a symlink and a missing file each lose the trained points with their own message."""
    path = _submission(tmp_path, week4_weights)
    model_file, ff_file = path.parent / "week4_cnn.pt", path.parent / "week4_ff.pt"
    torch.save(torch.nn.Linear(2, 2), model_file)  # the whole object pickled, not a state_dict
    ff_file.unlink()
    ff_file.symlink_to(week4_weights / "week4_ff.pt")
    report = grade(path)
    outputs = {t.name: t.output for t in report.tests if t.part == "trained"}
    assert report.by_part()["trained"] == (0.0, 6.0)
    assert any("refused the file" in text and "save model.state_dict()" in text for text in outputs.values())
    assert any("week4_ff.pt is not a plain file" in text for text in outputs.values())
    ff_file.unlink()
    report = grade(path)
    assert any("week4_ff.pt was not handed in" in t.output for t in report.tests)


def test_grading_twice_gives_the_same_report(tmp_path, week4_weights):
    """Are score and feedback identical across two gradings (seeded training, no temporary paths)?"""
    path = _submission(tmp_path, week4_weights, MISTAKES["no zero_grad"][0])
    first, second = grade(path), grade(path)
    assert [(t.score, t.output) for t in first.tests] == [(t.score, t.output) for t in second.tests]
