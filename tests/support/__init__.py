"""Helpers shared by the tests, one module per topic (tests/README.md lists them). Test modules
import from here, never from one another; fixtures live in the conftest.py files."""
