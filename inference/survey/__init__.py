"""Drone surveys: photo metadata, geo-location, change detection between surveys, the survey processor, reports."""
