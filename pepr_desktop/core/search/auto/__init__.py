"""The budgeted search (`pepr auto`): Optuna over models, input sizes and recipes within a time,
energy and memory budget. `engine.run_search` is the entry point; `spec`, `events` its types."""
