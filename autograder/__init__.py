"""dlgrade: grade PyTorch notebooks with hidden pytest graders, running student code in a separate process."""

__version__ = "0.1.0"
