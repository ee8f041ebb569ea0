"""Model registry view, running models, constraints and tokenization."""
