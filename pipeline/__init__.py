"""attention-repro: reproduce attention-based image classifiers' papers with DVC and MLflow (README.md)."""
