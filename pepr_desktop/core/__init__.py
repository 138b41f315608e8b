"""The headless core: no Qt import anywhere in this package (tests/core/test_no_qt.py checks it)."""
