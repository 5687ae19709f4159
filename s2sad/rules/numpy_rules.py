"""Rules for NumPy beyond the elementwise core (filled in by the NumPy coverage work)."""
