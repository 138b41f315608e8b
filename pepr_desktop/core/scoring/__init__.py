"""PePR scores and comparisons of stored runs (the paper's table, per-epoch PePR, the Pareto
plot)."""
