"""cffi builders, run by setuptools at install time through ``cffi_modules``."""
