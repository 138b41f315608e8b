"""PePR Desktop: choose, train and compare models under a compute budget."""

__version__ = "0.1.0"
