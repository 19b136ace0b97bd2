"""The instructor's tools for writing a week, never run when students are graded: solution notebooks run to make
their handed-in files (``handed_in``), graders measured by mutants of the solution (``mutants``), one part graded
inside a solution's own kernel (``incell``), and the check of a whole week before release (``check_week``).

Layer 5: imports ``grading`` and below; only ``frontends.cli`` imports it. The Gradescope zip leaves it out.
"""
