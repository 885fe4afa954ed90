"""Front ends: each parses and renders its own wire format for the core."""
