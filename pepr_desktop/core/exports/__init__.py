"""Stored runs written to files for other tools."""
