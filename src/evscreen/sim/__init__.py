"""The simulated vehicle: pure models stepped at a fixed rate, no I/O."""
