"""Test helpers shared across the suites; fixtures live in ``tests/conftest.py``."""
