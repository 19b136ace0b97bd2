"""The instructor's view of a class, from the results every front end leaves (``dlgrade report``).

``collect`` reads the results.json files of a batch, of the workflow's merged artifacts or of a folder holding
both, and the submissions beside them; ``summary`` counts scores, parts, shared failures, limits hit and who is
missing; ``similarity`` finds answers that look copied; ``plots`` draws, ``page`` writes the self-contained HTML
page and ``exports`` the CSV, JSON and terminal tables. Everything a student wrote is escaped where it is shown.
"""
