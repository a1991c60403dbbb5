"""apkoci_pants: the Pants backend for apkoci (see register.py)."""
