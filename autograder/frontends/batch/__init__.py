"""Grading a folder of submissions (``run``): shards, a pool of workers, results that stay fresh while nothing they
depend on changes (``fingerprint``), and nbgrader's gradebook as one more output (``gradebook``)."""
