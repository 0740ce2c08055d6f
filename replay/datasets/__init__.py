"""Datasets: versioned examples, JSONL/CSV import and export, promotion of spans into examples."""
