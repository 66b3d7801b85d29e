"""Task branches: each delegated task's work checked on its own git branch, then merged."""
