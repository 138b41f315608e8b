"""The PySide6 desktop GUI: views that render core state and send commands through the worker."""
