"""Week 5: full marks for the solution and for differently written correct code; each mistake loses its part."""

from __future__ import annotations

import pytest
from helpers import assert_full_marks, assert_loses_only, grade, submission

from autograder.course.weeks import get_week

WEEK = "week5_checkpoints"
LOAD = "    checkpoint = torch.load(path, map_location='cpu', weights_only=True)\n"

MISTAKES = {
    "loading weights without weights_only": (
        {
            "load_weights": "def load_weights(path):\n    model = SmallNet()\n"
            "    model.load_state_dict(torch.load(path, map_location='cpu', weights_only=False))\n"
            "    return model.eval()"
        },
        "weights",
        "ran code hidden in the file it loaded",
    ),
    "loading a checkpoint without weights_only": (
        {
            "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
            "    checkpoint = torch.load(path, map_location='cpu', weights_only=False)\n"
            "    model.load_state_dict(checkpoint['model_state_dict'])\n"
            "    optimizer.load_state_dict(checkpoint['optimizer_state_dict'])\n"
            "    return checkpoint['epoch'], checkpoint['loss']"
        },
        "checkpoint",
        "ran code hidden in the file it loaded",
    ),
    "mapping only cuda:0 to the CPU": (
        {
            "load_to_cpu": "def load_to_cpu(path):\n"
            "    return torch.load(path, map_location={'cuda:0': 'cpu'}, weights_only=True)"
        },
        "cpu_loading",
        "pass map_location='cpu' to torch.load",
    ),
    "predicting with autograd on": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 255\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        labels[path.name] = int(model(x).argmax(dim=1).item())\n    return labels"
        },
        "predict_folder",
        "predict inside `with torch.no_grad():`",
    ),
    "dividing the pixels by 256": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 256\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "borderline PNG files>): 1 of 3 labels differ from the reference",
    ),
    "scaling each drawing by its brightest pixel": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32)\n        x = x / x.max()\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "labels differ from the reference",
    ),
    "labelling every image, not just the PNGs": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.*')):\n"
            "        try:\n            image = Image.open(path).convert('L').resize((28, 28))\n"
            "        except Exception:\n            continue\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 255\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "predict_folder: the file names",
    ),
    "pickling the whole model": (
        {"save_weights": "def save_weights(model, path):\n    torch.save(model, path)"},
        "weights",
        "refused the file",
    ),
    "loading without eval()": (
        {
            "load_weights": "def load_weights(path):\n    model = SmallNet()\n"
            "    model.load_state_dict(torch.load(path, weights_only=True))\n    return model"
        },
        "weights",
        "returned a model in training mode",
    ),
    "returning the state_dict instead of a model": (
        {"load_weights": "def load_weights(path):\n    return torch.load(path, weights_only=True)"},
        "weights",
        "expected a SmallNet",
    ),
    "checkpoint without the optimizer": (
        {
            "save_checkpoint": "def save_checkpoint(path, model, optimizer, epoch, loss):\n"
            "    torch.save({'epoch': epoch, 'model_state_dict': model.state_dict(), 'loss': loss}, path)"
        },
        "checkpoint",
        "lacks ['optimizer_state_dict'] (without the optimizer's state, resumed training loses its momentum)",
    ),
    "loading the model but not the optimizer": (
        {
            "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
            + LOAD
            + "    model.load_state_dict(checkpoint['model_state_dict'])\n"
            "    return checkpoint['epoch'], checkpoint['loss']"
        },
        "checkpoint",
        "the optimizer's state (momentum) was not restored",
    ),
    "returning the next epoch": (
        {
            "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
            + LOAD
            + "    model.load_state_dict(checkpoint['model_state_dict'])\n"
            "    optimizer.load_state_dict(checkpoint['optimizer_state_dict'])\n"
            "    return checkpoint['epoch'] + 1, checkpoint['loss']"
        },
        "checkpoint",
        "expected (11, 0.5), got (12, 0.5)",
    ),
    "checkpoint keys of its own": (
        {
            "save_checkpoint": "def save_checkpoint(path, model, optimizer, epoch, loss):\n"
            "    torch.save({'epoch': epoch, 'model': model.state_dict(),\n"
            "                'optimizer': optimizer.state_dict(), 'loss': loss}, path)",
            "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
            + LOAD
            + "    model.load_state_dict(checkpoint['model'])\n"
            "    optimizer.load_state_dict(checkpoint['optimizer'])\n"
            "    return checkpoint['epoch'], checkpoint['loss']",
        },
        "checkpoint",
        "the checkpoint lacks ['model_state_dict', 'optimizer_state_dict']",
    ),
    "no map_location": (
        {"load_to_cpu": "def load_to_cpu(path):\n    return torch.load(path, weights_only=True)"},
        "cpu_loading",
        "pass map_location='cpu' to torch.load",
    ),
    "images not normalised": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32).reshape(1, 1, 28, 28) / 255\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "not normalised with MNIST's mean 0.1307 and std 0.3081",
    ),
    "predicting in training mode": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 255\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "the model is in eval() mode",
    ),
    "every file in the folder": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).iterdir()):\n"
            "        image = Image.open(path).convert('L').resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 255\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "raised UnidentifiedImageError: cannot identify image file '<temporary folder>/digits.csv'",
    ),
    "colour images not made grey": (
        {
            "predict_folder": "def predict_folder(model, folder):\n    model.eval()\n    labels = {}\n"
            "    for path in sorted(Path(folder).glob('*.png')):\n"
            "        image = Image.open(path).resize((28, 28))\n"
            "        x = torch.tensor(np.asarray(image), dtype=torch.float32) / 255\n"
            "        x = ((x - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)\n"
            "        with torch.no_grad():\n            labels[path.name] = int(model(x).argmax(dim=1).item())\n"
            "    return labels"
        },
        "predict_folder",
        "is invalid for input of size 2352",
    ),
}

VARIANTS = {
    "a device object for map_location, weights through load_to_cpu, inference_mode and scandir": {
        "load_to_cpu": "def load_to_cpu(path):\n"
        "    return torch.load(path, map_location=torch.device('cpu'), weights_only=True)",
        "load_weights": "def load_weights(path):\n    net = SmallNet()\n    net.load_state_dict(load_to_cpu(path))\n"
        "    net.eval()\n    return net",
        "predict_folder": "def predict_folder(model, folder):\n    import os\n    model.eval()\n    out = {}\n"
        "    for entry in sorted(os.scandir(folder), key=lambda e: e.name):\n"
        "        if not (entry.is_file() and entry.name.endswith('.png')):\n            continue\n"
        "        grey = Image.open(entry.path).convert('L').resize((28, 28))\n"
        "        x = torch.from_numpy(np.array(grey, dtype=np.float32) / 255)\n"
        "        x = ((x - MNIST_MEAN) / MNIST_STD)[None, None]\n"
        "        with torch.inference_mode():\n            out[entry.name] = int(model(x).argmax())\n"
        "    return out",
    },
    "checkpoints by dict(), loss as a float, map_location by position": {
        "save_checkpoint": "def save_checkpoint(path, model, optimizer, epoch, loss):\n"
        "    torch.save(dict(epoch=epoch, model_state_dict=model.state_dict(),\n"
        "                    optimizer_state_dict=optimizer.state_dict(), loss=loss), path)",
        "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
        "    saved = torch.load(path, 'cpu', weights_only=True)\n"
        "    model.load_state_dict(saved['model_state_dict'])\n"
        "    optimizer.load_state_dict(saved['optimizer_state_dict'])\n"
        "    return saved['epoch'], float(saved['loss'])",
        "load_to_cpu": "def load_to_cpu(path):\n    return torch.load(path, 'cpu', weights_only=True)",
    },
    "one batch of every drawing through torchvision's transforms": {
        "predict_folder": "def predict_folder(model, folder):\n    from torchvision import transforms\n"
        "    steps = transforms.Compose([transforms.Grayscale(), transforms.Resize((28, 28)), transforms.ToTensor(),\n"
        "                                transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])\n"
        "    paths = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix == '.png')\n"
        "    if not paths:\n        return {}\n"
        "    batch = torch.stack([steps(Image.open(p).convert('L')) for p in paths])\n"
        "    model.eval()\n    with torch.no_grad():\n        predicted = model(batch).argmax(dim=1).tolist()\n"
        "    return {p.name: int(label) for p, label in zip(paths, predicted)}",
    },
    "file handles, a state_dict copy and torchvision transforms": {
        "save_weights": "def save_weights(model, path):\n    with open(path, 'wb') as handle:\n"
        "        torch.save({k: v.clone() for k, v in model.state_dict().items()}, handle)",
        "load_weights": "def load_weights(path):\n    with open(path, 'rb') as handle:\n"
        "        state = torch.load(handle, map_location=torch.device('cpu'), weights_only=True)\n"
        "    model = SmallNet()\n    model.load_state_dict(state)\n    return model.eval()",
        "predict_folder": "def predict_folder(model, folder):\n    from torchvision import transforms\n"
        "    prepare = transforms.Compose([transforms.Grayscale(), transforms.Resize((28, 28)),\n"
        "        transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])\n"
        "    names = sorted(p.name for p in Path(folder).glob('*.png'))\n"
        "    if not names:\n        return {}\n"
        "    batch = torch.stack([prepare(Image.open(Path(folder) / n).convert('L')) for n in names])\n"
        "    model.eval()\n    with torch.no_grad():\n        best = model(batch).argmax(dim=1).tolist()\n"
        "    return dict(zip(names, best))",
    },
    "os.path, explicit dictionaries and softmax": {
        "save_checkpoint": "def save_checkpoint(path, model, optimizer, epoch, loss):\n"
        "    state = dict(epoch=int(epoch), loss=float(loss))\n"
        "    state['model_state_dict'] = model.state_dict()\n"
        "    state['optimizer_state_dict'] = optimizer.state_dict()\n    torch.save(state, str(path))",
        "load_checkpoint": "def load_checkpoint(path, model, optimizer):\n"
        "    saved = torch.load(str(path), map_location=torch.device('cpu'), weights_only=True)\n"
        "    model.load_state_dict(saved['model_state_dict'])\n"
        "    optimizer.load_state_dict(saved['optimizer_state_dict'])\n"
        "    return (saved['epoch'], saved['loss'])",
        "predict_folder": "def predict_folder(model, folder):\n    import os\n    model.eval()\n    result = {}\n"
        "    for name in sorted(os.listdir(folder)):\n"
        "        full = os.path.join(folder, name)\n"
        "        if not (name.endswith('.png') and os.path.isfile(full)):\n            continue\n"
        "        grey = np.array(Image.open(full).convert('L').resize((28, 28)), dtype=np.float32) / 255.0\n"
        "        x = torch.from_numpy((grey - MNIST_MEAN) / MNIST_STD).view(1, 1, 28, 28)\n"
        "        with torch.inference_mode():\n"
        "            result[name] = int(torch.softmax(model(x), dim=1).argmax())\n"
        "    return result",
    },
    "a helper that moves every tensor": {
        "load_to_cpu": "def load_to_cpu(path):\n"
        "    return torch.load(path, map_location=lambda storage, location: storage, weights_only=True)",
        "load_weights": "def load_weights(path):\n    model = SmallNet()\n"
        "    model.load_state_dict(load_to_cpu(path))\n    model.train(False)\n    return model",
    },
}


def test_solution_scores_full_marks():
    """Does the reference solution earn every point?"""
    report = grade(get_week(WEEK).solution)
    assert_full_marks(report)
    assert report.max_score == 15


def test_stub_scores_zero_without_grader_errors():
    """Does the unmodified stub score 0 with no grader crash?"""
    report = grade(get_week(WEEK).stub)
    assert report.score == 0 and report.max_score == 15
    assert not any(t.grader_error for t in report.tests)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_loses_its_part(tmp_path, mistake):
    """Does each realistic mistake lose points in its part only, with feedback naming it?"""
    functions, broken_part, feedback = MISTAKES[mistake]
    assert_loses_only(grade(submission(tmp_path, WEEK, functions)), broken_part, feedback)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_correct_variants_score_full_marks(tmp_path, variant):
    """Does correct code written differently from the reference get every point?"""
    assert_full_marks(grade(submission(tmp_path, WEEK, VARIANTS[variant])))


def test_grading_twice_gives_the_same_report(tmp_path):
    """Are score and feedback identical across two gradings (no temporary paths or random values leak in)?"""
    path = submission(tmp_path, WEEK, MISTAKES["loading the model but not the optimizer"][0])
    first, second = grade(path), grade(path)
    assert [(t.score, t.output) for t in first.tests] == [(t.score, t.output) for t in second.tests]
