"""Presentation: the run report model and every format that renders it."""
