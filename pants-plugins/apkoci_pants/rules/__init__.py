"""The backend's rules, one module per build step (see package.py for how they chain)."""
