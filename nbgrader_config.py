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
