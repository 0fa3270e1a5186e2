"""The versioned JSON report (``"schema": "llmdoctor.report/2"``)."""

from __future__ import annotations

import json

from ..results import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
