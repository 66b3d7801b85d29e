"""What runs inside each worker. Imports only the standard library and pytest.

The controller starts one ``python -m pytest -p pytest_delegation.worker.plugin`` per
task run (or forks it from its fork server); the worker reads its `protocol.WorkerSpec`,
runs the tests it names and streams `protocol` events back through a `channel.Channel`.
Nothing in this package imports the rest of ``pytest_delegation`` (the plan stack,
PyYAML, the checks and the report): a worker must start as cheaply as pytest does, and
``tests/test_worker_protocol.py`` holds it to that. The controller imports `protocol`
from here, so both sides decode the same events. Modules: `plugin` (the hooks),
`protocol` and `channel` (the stream), `snapshot` and `keeper` (the order check's
shared state) and `tracker` (the boundaries check's measurement).
"""
