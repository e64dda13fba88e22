"""Scoring a run's trained networks: the per-seed evaluation sets and compiled
scoring programs (``evalset``) and the registry of scorers (``registry``) that
tables, plots and summaries iterate."""
