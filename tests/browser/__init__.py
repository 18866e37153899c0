"""Real-browser tests (a package, so that this folder's conftest.py does not shadow tests/conftest.py
for the `from conftest import ...` lines of the other test modules)."""
