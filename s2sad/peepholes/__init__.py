"""peepholes."""
