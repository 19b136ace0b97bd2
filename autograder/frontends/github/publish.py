"""Post each student's score and per-part feedback back to the graded commit, as a GitHub check run.

One check run per week (``dlgrade: <week>``) on the commit that was graded, with the score as its title and the
report as Markdown. The messages are the graders' feedback, which names inputs by shape and reports how far off
an answer is, never reference values unless ``--feedback open`` is asked for (after the deadline); the graders'
code and data never leave the instructor's repository. The
token needs only ``checks: write`` on the students' repositories (a GitHub App installation token).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from autograder.grading.report import from_gradescope, to_markdown, with_feedback

SUMMARY_LIMIT = 60_000  # GitHub caps a check run's summary at 65,535 characters


def collect_records(results: Path) -> dict[str, dict]:
    """The fetch records (``fetched*.json``, copied into the results by the grading jobs), merged."""
    merged: dict[str, dict] = {}
    for path in sorted(results.rglob("fetched*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def check_runs(results: Path, feedback: str = "hidden", weeks: set[str] | None = None) -> list[tuple[str, dict]]:
    """(repository, check-run request body) for every graded week (of ``weeks`` only, if given) of every student
    fetched at a known commit, with the feedback of ``feedback``'s level (``autograder.judging.disclosure``)."""
    runs = []
    for student, record in sorted(collect_records(results).items()):
        if "commit" not in record:
            continue
        for path in sorted((results / student).glob("*/results.json")):
            if weeks is not None and path.parent.name not in weeks:
                continue
            report = with_feedback(from_gradescope(json.loads(path.read_text(encoding="utf-8"))), feedback)
            full = report.max_score > 0 and report.score >= report.max_score
            body = {
                "name": f"dlgrade: {path.parent.name}",
                "head_sha": record["commit"],
                "status": "completed",
                "conclusion": "success" if full else "neutral",
                "output": {
                    "title": f"{report.score:g} / {report.max_score:g} points",
                    "summary": to_markdown(report)[:SUMMARY_LIMIT],
                },
            }
            runs.append((record["repository"], body))
    return runs


def publish(
    results: Path,
    token: str,
    api_url: str = "https://api.github.com",
    dry_run: bool = False,
    feedback: str = "hidden",
    weeks: set[str] | None = None,
) -> list[str]:
    """Post every check run (of ``weeks`` only, if given); returns one line per run (what was posted, or why it
    failed), and with ``dry_run`` the summary the student would read under each. Failures do not stop."""
    if not collect_records(results):
        raise FileNotFoundError(
            f"{results}: no fetched*.json (dlgrade fetch writes DEST/fetched.json: copy it here, as the workflow does)"
        )
    lines = []
    for repository, body in check_runs(results, feedback, weeks):
        where = f"{repository}@{body['head_sha'][:12]} {body['name']}: {body['output']['title']}"
        if dry_run:
            lines.append(f"would post {where}")
            lines += [f"    {line}" for line in body["output"]["summary"].splitlines()]
            continue
        request = urllib.request.Request(
            f"{api_url.rstrip('/')}/repos/{repository}/check-runs",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "dlgrade",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - URL is the API's
                lines.append(f"posted {where} (HTTP {response.status})")
        except (urllib.error.URLError, TimeoutError) as exc:
            lines.append(f"FAILED {where}: {getattr(exc, 'code', '')} {getattr(exc, 'reason', exc)}".strip())
    return lines


def token_from_environment() -> str:
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not token:
        raise ValueError("publish: set GH_TOKEN to a token with checks: write on the students' repositories")
    return token
