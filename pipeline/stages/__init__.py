"""The tracked stages as plain functions: fetch, train, evaluate, render (the CLI, DVC and cluster jobs call them)."""
