"""The graders' toolkit: what a hidden test holds and calls.

``student`` is the proxy a grader calls the student's functions through (every value crosses the wire, nothing
of the student's runs here); ``checks`` compares what came back with a reference and words the feedback;
``disclosure`` is the one policy for what feedback may show of hidden inputs and references.

Layer 2: imports ``running`` and ``sandbox`` only. The graders (``autograder.course.graders``) import it.
"""
