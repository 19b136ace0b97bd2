"""dlgrade: grade PyTorch notebooks with hidden pytest graders, running student code in a separate process.

The package is layered; a module imports only from its own layer and the layers below it (the contract is
``[tool.importlinter]`` in pyproject.toml, checked by tests/test_layers.py):

    frontends/   cli, batch, github, nbgrader, gradescope, class_report: the ways a course grades
    authoring/   the instructor's tools for writing a week: check_week, mutants, handed_in, incell
    grading/     one notebook end to end: read, run, ask, judge, report
    course/      the weeks, their hidden graders and their data
    judging/     the graders' toolkit: the student proxy, checks, what feedback may disclose
    running/     the grader's side of the student's confined process: cells, questions, limits, restarts
    sandbox/     the student's side of the wall, the only part shown inside the sandbox

Only this file and ``sandbox/`` are visible to student code.
"""

__version__ = "0.1.0"
