"""nbgrader's extension points: ``autograde`` (the preprocessor that grades in the sandbox in place of Execute),
``overwrite`` (locked cells restored, warned of only where edited), ``sanitize`` (the student's Markdown and raw
cells made safe) and ``export`` (a CSV export that escapes formulas)."""
