"""Driving CI systems: the plan as jobs, and one report from all of them."""
