"""Static, self-contained HTML study report (``fmslab report STUDY``).

The page (``index.html``) is built from the study's catalog tables and the figures under
``STUDY/results/<modality>/``; it needs no network (inline CSS and JavaScript, figures embedded as
base64 data URIs). See ``docs/report.md``.
"""

from fmslab.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
