"""The document store: revision trees, every revision body, the global change sequence."""
