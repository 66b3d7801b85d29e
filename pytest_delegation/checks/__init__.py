"""The checks: pure rules that turn a plan, a collection and measurements into findings."""
