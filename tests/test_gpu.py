"""What only a GPU can show: the student's tensors really on ``cuda``, a checkpoint a GPU saved loaded on a CPU, and
week 4's tolerances holding under TF32. The rest of the suite proves CPU and GPU verdicts agree when run with
``pytest --grading-device cuda`` on a GPU runner; here, without one, every test skips saying why.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest
import torch
from helpers import assert_full_marks, submission
from test_week4_cnn import _hand_in

from autograder.course.weeks import REPO_DIR, get_week
from autograder.grading.grade import grade_notebook

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device here (torch.cuda.is_available() is False); run on a GPU runner, where "
        "`pytest --grading-device cuda` also grades the whole suite on the GPU",
    ),
]


def _solution_function(week: str, name: str) -> str:
    """The source of top-level function ``name`` in the week's solution notebook."""
    for cell in nbformat.read(get_week(week).solution, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return ast.get_source_segment(cell.source, node)
    raise LookupError(f"no function {name} in {week}'s solution")


def test_student_tensors_are_really_on_cuda(tmp_path):
    """Graded with device cuda, does pick_device give the GPU inside the student's process, and tensors land there?"""
    cell = "probe = torch.ones(2, 3, device=pick_device())\nprint('probe on', probe.device, float(probe.sum()))"
    report = grade_notebook(submission(tmp_path, "week1_tensors", extra_cells=[cell]), device="cuda")
    assert_full_marks(report)
    assert "probe on cuda:0 6.0" in report.printed


def test_graded_on_cpu_the_gpu_stays_hidden(tmp_path):
    """Graded with device cpu on a GPU machine, does the student's process see no GPU at all (the same verdicts
    as on a CPU runner)?"""
    cell = "print('gpus seen:', torch.cuda.device_count())"
    report = grade_notebook(submission(tmp_path, "week1_tensors", extra_cells=[cell]), device="cpu")
    assert_full_marks(report)
    assert "gpus seen: 0" in report.printed


def test_checkpoint_saved_on_cuda_loads_on_a_cpu(tmp_path):
    """A state_dict saved from the GPU: does the solution's load_to_cpu bring it to a CPU-only process intact, and
    does loading it there without map_location fail, as the graders' device-tagged files make it fail everywhere?"""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).cuda()
    path = tmp_path / "gpu.pt"
    torch.save(model.state_dict(), path)
    expected = {name: tensor.cpu().tolist() for name, tensor in model.state_dict().items()}
    script = textwrap.dedent(
        """
        import json, sys, torch
        assert not torch.cuda.is_available()
        {function}
        loaded = load_to_cpu(sys.argv[1])
        print(json.dumps({{n: [t.device.type, t.tolist()] for n, t in loaded.items()}}))
        try:
            torch.load(sys.argv[1], weights_only=True)
            print("plain load worked")
        except RuntimeError as exc:
            print("plain load refused:", "map_location" in str(exc))
        """
    ).format(function=_solution_function("week5_checkpoints", "load_to_cpu"))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    loaded_line, plain_line = run.stdout.splitlines()
    loaded = json.loads(loaded_line)
    assert {name: value[0] for name, value in loaded.items()} == {name: "cpu" for name in expected}
    assert {name: value[1] for name, value in loaded.items()} == expected
    assert plain_line == "plain load refused: True"


def test_week4_passes_on_cuda_with_tf32(tmp_path, week4_weights):
    """With TF32 matrix products switched on (as many GPU notebooks do), does the week 4 solution still earn every
    point on the GPU: the graders' GPU tolerances cover TF32's rounding?"""
    tf32 = "torch.backends.cuda.matmul.allow_tf32 = True\ntorch.backends.cudnn.allow_tf32 = True"
    path = _hand_in(submission(tmp_path, "week4_cnn", extra_cells=[tf32]), week4_weights)
    assert_full_marks(grade_notebook(path, device="cuda"))


SAMPLES = sorted(p for p in (REPO_DIR / "samples").glob("*/*.ipynb") if p.parent.name != "week4_cnn")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_samples_get_the_same_verdicts_on_cuda_and_cpu(sample):
    """Does each sample submission lose the same points with the same messages on the GPU as on the CPU?"""
    on_cpu, on_cuda = (grade_notebook(sample, week=sample.parent.name, device=device) for device in ("cpu", "cuda"))
    assert on_cuda.by_part() == on_cpu.by_part()
    assert [(t.name, t.status, t.output) for t in on_cuda.tests] == [(t.name, t.status, t.output) for t in on_cpu.tests]
