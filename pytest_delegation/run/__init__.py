"""The process layer: the only code that starts, reads, signals and stops workers."""
