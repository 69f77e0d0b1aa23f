"""Showing the management report: tables, charts, the page and the Board pack's HTML and
PDF. Pure rendering of ``policy.reporting.Report``; no I/O."""
