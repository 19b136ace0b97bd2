"""The student's side of the wall: everything in this package runs in, or decides what is seen by, the student's
process.

Only this package (and ``autograder/__init__.py``) is visible inside the sandbox; the graders, the grader's own
process and the rest of ``autograder`` are not. Nothing here may hold a reference value, a point or a secret.
"""
