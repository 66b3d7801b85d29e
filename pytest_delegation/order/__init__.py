"""The order check: which orders to run, pinning a changed outcome, proving it."""
