"""nbgrader configuration: this repository's root is the course directory.

solutions/<week>/<week>.ipynb is nbgrader's source; `nbgrader generate_assignment <week>` writes the student stub
to assignments/<week>/<week>.ipynb, which is committed. Submissions go under submitted/<student>/<week>/.
"""

import os
import warnings

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

# nbgrader's gradebook (nbgrader/api.py) makes a submission's rows inside SQLAlchemy 2's autoflush, which warns
# "Object of type <SubmittedAssignment> not in session, add operation along ... will not proceed" for every
# student; the rows are added right after and nothing is lost (nbgrader's own code, not this course's).
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session", module="nbgrader")

# The folder this file is in, absolute: nbgrader warned "root '.' is not absolute" several times a command.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # noqa: F821 - __file__: set by traitlets
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.CourseDirectory.course_id = "dl-course"

# Stubs carry no outputs and keep the notebook's own metadata (dlgrade.week tells the grader which week it is).
c.ClearOutput.enabled = True
c.GenerateAssignment.create_assignment = True

# Autograde runs no kernel: GradeInSandbox takes Execute's place, runs the submission in dlgrade's confined sandbox
# and the week's graders outside it, and writes each part's points and feedback into its "Autograder tests" cell
# for SaveAutoGrades. Every other step is nbgrader's own, in nbgrader's order. It refuses to grade where student
# code cannot be confined; `c.GradeInSandbox.allow_unconfined = True` grades anyway, saying so in each notebook.
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from autograder.frontends.nbgrader.autograde import GradeInSandbox  # noqa: E402
from autograder.frontends.nbgrader.overwrite import QuietOverwriteCells  # noqa: E402
from autograder.frontends.nbgrader.sanitize import SanitizeStudentHTML  # noqa: E402

# nbgrader's own sanitizing steps, with OverwriteCells replaced: it warned "checksum has changed" for every
# hidden-test cell of every student, edited or not (autograder/frontends/nbgrader/overwrite.py).
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    QuietOverwriteCells,
    CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    GradeInSandbox,
    SanitizeStudentHTML,  # the student's Markdown and raw cells made inert for feedback and formgrader (bleach)
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
c.GradeInSandbox.device = "auto"

# Feedback is the autograded notebook as HTML. Hidden test cells hold only a call to the graders
# (`grade_part("week", "part")`, which instructors run in Jupyter), and their output is the graders' feedback,
# which names inputs by shape only, so nothing of the hidden inputs or reference values reaches a student
# (autograder/judging/disclosure.py). To release feedback with each failed test's reference after the deadline,
# autograde again with `c.GradeInSandbox.feedback = "open"` (e.g. --GradeInSandbox.feedback=open --force).
#
# The page is nbgrader's feedback template made readable (autograder/templates/nbconvert/dlgrade_feedback/): each
# part named where nbgrader writes "Test cell", long lines of feedback wrapped, and no "Out[ ]: 2" under the
# hidden tests (the part's points, which SaveAutoGrades reads). Set for GenerateFeedback's exporter only: the
# formgrader keeps its own views.
import nbgrader  # noqa: E402

import autograder  # noqa: E402

c.GenerateFeedback.HTMLExporter.template_name = "dlgrade_feedback"
c.GenerateFeedback.HTMLExporter.template_file = "readable_feedback.html.j2"
c.GenerateFeedback.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(autograder.__file__), "templates", "nbconvert"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]

# Files a notebook hands in beside itself (week 4's trained weights) are the student's: autograde copies the
# source folder over each submission, and must never replace them with files an instructor left there.
from autograder.course.weeks import WEEKS  # noqa: E402

c.Autograde.exclude_overwriting = {week.name: list(week.handed_in) for week in WEEKS.values() if week.handed_in}

# `nbgrader export` writes its CSV through the csv module with every cell spreadsheet-safe (a name like
# "=HYPERLINK(...)" is not run as a formula), as dlgrade batch writes its grades.csv.
from autograder.frontends.nbgrader.export import SafeCsvExport  # noqa: E402

c.ExportApp.plugin_class = SafeCsvExport
