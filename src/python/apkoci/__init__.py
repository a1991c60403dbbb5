"""apkoci: build minimal, reproducible OCI images from APK packages, the way apko does.

The engine is importable without Pants. One sub-package per concern:

- ``apkoci.apk``: the APK world — versions, dependencies, package files, indexes, signatures,
  repositories and the resolver.
"""
