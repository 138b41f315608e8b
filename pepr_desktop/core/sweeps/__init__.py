"""Sweeps: jobs, the driver that alone writes the store, local and Ray backends."""
