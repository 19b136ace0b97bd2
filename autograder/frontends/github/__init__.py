"""GitHub: the roster of student repositories (``roster``), the check runs that publish grades (``publish``), the
student repository template (``student_repo``) and the ``dlgrade`` commands that drive them (``commands``)."""
