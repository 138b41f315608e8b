"""One module per main-window view: experiment set-up, live training, stored runs, comparison."""
