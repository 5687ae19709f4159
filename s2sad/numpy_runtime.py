"""Run-time helpers used by the NumPy rule templates (reached as `_rt.<name>`)."""
