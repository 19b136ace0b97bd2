"""Mutation testing of the graders (autograder/authoring/mutants.py): the operators change what they say, the list of
equivalent mutants stays true to the solutions, and a sample of mutants is graded and killed, as
benchmarks/mutation.py does for all of them."""

from __future__ import annotations

import pytest

from autograder.authoring.mutants import (
    _field_mutants,
    answer_cells,
    changed_line,
    equivalents,
    mutants,
    solution_lines,
)
from autograder.course.weeks import WEEKS, get_week

SNIPPETS = {  # operator: (source, a line one of its mutants has)
    "DropCall": ("def f(model, opt):\n    opt.zero_grad()\n    return model\n", "(dropped) opt.zero_grad()"),
    "UnwrapWith": ("def f(m, x):\n    with torch.no_grad():\n        y = m(x)\n    return y\n", "y = m(x)"),
    "DiscardResult": ("def f(t, device):\n    t = t.to(device)\n    return t\n", "t.to(device)"),
    "PrintForReturn": ("def f(x):\n    return x + 1\n", "print(x + 1)"),
    "Squeeze": ("def f(x):\n    return x.unsqueeze(0)\n", "return x"),
    "CastDtype": ("def f(x):\n    return x.to(torch.float32)\n", "return x.to(torch.float64)"),
    "SwapDims": ("def f(x):\n    return x.mean(dim=0)\n", "return x.mean(dim=1)"),
    "DropTranspose": ("def f(x, W):\n    return x @ W.T\n", "return x @ W"),
    "ElementwiseForMatmul": ("def f(x, W):\n    return x @ W\n", "return x * W"),
    "InPlace": ("def f(x, m):\n    return x - m\n", "return x.sub_(m)"),
    "HardCodedShape": ("def f(x):\n    return x.reshape(x.shape[0], -1)\n", "return x.reshape(64, -1)"),
    "HardCodedDevice": ("def f(t, device):\n    return t.to(device)\n", "return t.cuda()"),
    "DropKeyword": ("def f(p):\n    return torch.load(p, weights_only=True)\n", "return torch.load(p)"),
    "DropMethod": ("def f(loss):\n    return loss.item()\n", "return loss"),
    "TrainForEval": ("def f(model):\n    model.eval()\n    return model\n", "model.train()"),
    "DropUpdate": ("def f(x, b):\n    x += b\n    return x\n", "(dropped) x += b"),
}


@pytest.mark.parametrize("operator", list(SNIPPETS))
def test_field_operator_makes_the_mistake_it_names(operator):
    """Does each of the field's operators produce the student's mistake it is named for?"""
    source, line = SNIPPETS[operator]
    region = set(range(2, len(source.splitlines()) + 1))
    made = {changed_line(source, mutated) for name, mutated in _field_mutants(source, region, [64]) if name == operator}
    assert line in made, made


def test_only_the_solution_region_is_mutated():
    """Are the lines a student is given (signature, docstring) never mutated?"""
    source = 'def f(x, n=1):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x + n\n    ### END SOLUTION\n'
    assert solution_lines(source) == {4}
    lines = {changed_line(source, mutated) for _, mutated in _field_mutants(source, {4}, [])}
    assert "def f(x, n=1):" not in lines and "return x - n" not in lines  # the latter is cosmic-ray's


def test_every_listed_equivalent_is_a_mutant_of_today_with_a_reason():
    """Does each mutant listed as equivalent still arise from the solutions, and say why it is equivalent?"""
    made = {(m.week, m.part, m.operator, m.line) for week in WEEKS.values() for m in mutants(week)}
    for key, reason in equivalents().items():
        assert key in made, f"listed as equivalent but no longer a mutant: {key}"
        assert len(reason) > 20, key


def test_every_part_has_mutants():
    """Does every part of every week get mutants, so that its graders are measured?"""
    for week in WEEKS.values():
        parts = {m.part for m in mutants(week)}
        assert parts == set(answer_cells(week)), week.name


SAMPLE = [  # (week, part, operator, changed line): mistakes from each class of issue 16, graded for real
    ("week1_tensors", "devices", "HardCodedDevice", "return t.to('cpu')"),
    ("week1_tensors", "normalize", "InPlace", "return x.sub_(mean) / std"),
    ("week2_linear", "linear", "DropTranspose", "return x @ W + b"),
    ("week4_cnn", "train_one_epoch", "DropCall", "(dropped) optimizer.zero_grad()"),
    ("week5_checkpoints", "cpu_loading", "DropKeyword", "return torch.load(path, weights_only=True)"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("week", "part", "operator", "line"), SAMPLE)
def test_a_sample_of_mutants_is_killed(week, part, operator, line):
    """Graded through the sandbox, does each sampled mutant lose points in its part?"""
    from autograder.authoring.mutants import grade_mutant  # noqa: PLC0415

    found = [m for m in mutants(get_week(week), {part}) if (m.operator, m.line) == (operator, line)]
    assert len(found) == 1, [(m.operator, m.line) for m in mutants(get_week(week), {part})]
    killed, feedback = grade_mutant(found[0])
    assert killed, f"{operator} survived: {line}"
    assert feedback
