"""Dataset versions on disk: importers/exporters, checks, feedback export, the synthetic scene generator."""
