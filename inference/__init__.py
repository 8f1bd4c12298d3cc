"""Frames in, events out: sources, detector runtime, rules and evidence."""
