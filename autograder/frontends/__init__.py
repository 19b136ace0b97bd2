"""The ways a course grades: the ``dlgrade`` command line (``cli``), a folder of submissions (``batch``), GitHub
(``github``), nbgrader (``nbgrader``), Gradescope (``gradescope``) and the class report (``class_report``).

Layer 6, the top: each front end imports ``grading`` and below, and ``batch`` where it grades many notebooks;
front ends do not import one another otherwise, and only ``cli`` imports them all.
"""
