"""The shop's models. One module per model, each written by its own task."""
