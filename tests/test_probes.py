"""Grader tools built in the student's process: only the course's own, and they measure what they claim."""

from __future__ import annotations

import pytest
import torch

from autograder.authoring.incell import KernelNamespace
from autograder.judging.student import Student
from autograder.running.limits import StudentError
from autograder.sandbox import probes


@pytest.fixture()
def student() -> Student:
    """A notebook namespace that imported torch, answered through the same Worker as the sandbox."""
    return Student(KernelNamespace({"torch": torch}, call_seconds=10))


def test_only_the_courses_tools_can_be_built(student):
    """Is a name outside probes.TOOLS refused, so a tool request cannot reach arbitrary code?"""
    with pytest.raises(StudentError, match="no grader tool named 'system'"):
        student.tool("system")
    assert student.tool("lenet").handle(1).type_name == "Sequential"


def test_grad_mode_log_tells_no_grad_from_recording(student):
    """Does the probe record autograd's mode at each forward pass, as the evaluate grader relies on?"""
    model = student.tool("batchnorm_classifier").handle(3)
    log = student.tool("GradModeLog").handle()
    model.register_forward_pre_hook.handle(log)
    x = torch.randn(4, 1, 28, 28)
    model(x)
    student.torch.attr("set_grad_enabled").handle(False)
    model(x)
    student.torch.attr("set_grad_enabled").handle(True)
    assert log.attr("seen") == [True, False]


def test_seeded_models_leave_the_students_random_stream_alone():
    """Do tool models come out the same for a seed, without moving the global generator the student seeded?"""
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    first, second = probes.lenet(7), probes.lenet(7)
    assert torch.rand(3).equal(expected_next)
    assert all(a.equal(b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))
