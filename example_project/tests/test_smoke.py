"""A test that belongs to no task, on purpose."""

from __future__ import annotations

import shop


# DELIBERATE: no @pytest.mark.task and no plan `tests:` selector matches this file,
# so `pytest --delegation-report` reports `untagged-test` (a warning). The test still
# runs, after the last wave, so nothing is silently dropped.
def test_package_has_a_version() -> None:
    assert shop.__version__.count(".") == 2
