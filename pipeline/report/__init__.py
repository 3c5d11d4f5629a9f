"""Reporting: verdicts (statistics), tables (rendering) and figures of the sources' tables."""
