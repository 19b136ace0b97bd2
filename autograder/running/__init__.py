"""Running one notebook: the grader's side of the student's confined process.

Reads a submission into its code cells (``notebook``), starts the student's process inside its limits
(``launch``: bubblewrap, cgroups, a small environment), runs the cells and asks it questions with a deadline for
each (``student_process``: the cell loop, restarts and replay), checks every reply before anything reads it
(``replies``), and keeps a spare process warm for the next notebook (``spare_process``).

Layer 1 of the package (see ``autograder/__init__.py``): it imports only ``autograder.sandbox``. Nothing here
knows a week, a grader or a point.
"""
