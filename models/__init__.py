"""Taxonomy, model registry, bundled default weights and model loading."""
