"""Fuzz targets (``targets.py``) and their time-boxed runner (``python -m tests.fuzz``)."""
