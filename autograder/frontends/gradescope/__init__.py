"""Gradescope: the autograder zip a course uploads (``bundle``) and what runs inside it for each submission
(``run``). The zip carries only ``run`` and the layers it imports."""
