"""One notebook graded end to end: read, run, ask, judge, report (``grade``), with the week's graders run by pytest
in this process (``runner``), locked cells restored (``locked_cells``) and the report in every format
(``report``).

Layer 4: imports ``course`` and below. Every front end grades through ``grade.grade_notebook`` (or
``grade_loaded``), so a notebook gets the same score wherever it is graded.
"""
