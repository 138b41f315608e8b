"""Self-contained widgets the views place: dataset preview grid, confusion matrix, try-it panel,
budget box, and the table helpers the views share (tables.py)."""
