"""Reporting: verdicts on reproduced figures and claims (rendering will live here too)."""
