"""Subcommand groups of the `cityeye` command, one module each."""
