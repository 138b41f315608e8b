"""Self-contained widgets the views place: dataset preview grid, confusion matrix, try-it panel."""
