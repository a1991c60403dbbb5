"""Installing APK packages into an image's file tree, without root and without running scripts.

The modules build on each other:

- ``filetree``: :class:`~apkoci.install.filetree.FileTree`, the image's files as metadata in memory
  (kind, mode, numeric owners as packaged, link targets, xattrs, owning package) with file contents
  staged on disk; it turns into :class:`apkoci.oci.layer.Entry` values for the layer writer.
- ``database``: apk-tools' database files (``lib/apk/db/installed``, ``scripts.tar``, ``triggers``,
  ``etc/apk/world``, ...) as values, their exact text, and the base layout of a fresh root.
- ``install``: :func:`~apkoci.install.install.install_packages`, which unpacks packages in order
  into a tree the way apk-tools 2.14 does on a fresh root (file conflicts, ``replaces``, directory
  permissions, protected paths) and returns what the installed database records.
"""
