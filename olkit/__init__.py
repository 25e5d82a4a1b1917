"""olkit."""
