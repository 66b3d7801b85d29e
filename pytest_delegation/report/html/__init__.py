"""The HTML report: one self-contained page (page.css and page.js inlined at render time)."""

from __future__ import annotations

from pytest_delegation.report.html.page import render_html


__all__ = ["render_html"]
