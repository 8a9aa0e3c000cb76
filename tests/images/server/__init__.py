"""Checks of the server target: healthy, serving, hardened, under load, and failing clearly."""
