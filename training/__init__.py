"""Detector fine-tuning and evaluation, scorer fitting, reports: fit / evaluate / compare / promote as steps."""
