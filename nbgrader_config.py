"""nbgrader configuration: this repository's root is the course directory.

solutions/<week>/<week>.ipynb is nbgrader's source; `nbgrader generate_assignment <week>` writes the student stub
to assignments/<week>/<week>.ipynb, which is committed. Submissions go under submitted/<student>/<week>/.
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.course_id = "dl-course"

# Stubs carry no outputs and keep the notebook's own metadata (dlgrade.week tells the grader which week it is).
c.ClearOutput.enabled = True
c.GenerateAssignment.create_assignment = True

# nbgrader stops any cell after 30 s by default and scores the rest of a timed-out test cell zero. The hidden
# test cells run the week's graders (a few seconds; training checks in later weeks take longer), so allow more.
c.Execute.timeout = 300

# Feedback is the autograded notebook as HTML. Hidden test cells hold only a call to the graders
# (`grade_part("week", "part")`), and their output is the graders' feedback, which names inputs by shape only,
# so nothing of the hidden inputs or reference values reaches a student through feedback.

# Files a notebook hands in beside itself (week 4's trained weights) are the student's: autograde copies the
# source folder over each submission, and must never replace them with files an instructor left there.
from autograder.weeks import WEEKS  # noqa: E402

c.Autograde.exclude_overwriting = {week.name: list(week.handed_in) for week in WEEKS.values() if week.handed_in}
