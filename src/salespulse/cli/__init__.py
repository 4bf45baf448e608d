"""The ``salespulse`` command line."""
