"""Streamlit-only helpers (the only package that imports streamlit): cached loaders, session keys, widgets."""
