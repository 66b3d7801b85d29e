"""Tests to tasks: mapping, markers, the scope of a run, which plan it uses."""
