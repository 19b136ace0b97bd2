"""The course's content as the grader sees it: the weeks and their limits (``weeks``), the hidden graders of each
week (``graders/<week>.py``, pytest tests with points), and the data sets they read (``data``, ``data_locations``).

Layer 3: imports ``judging``, ``running`` and ``sandbox``. A new week touches this folder, ``solutions/`` and
``assignments/``, nothing else.
"""
