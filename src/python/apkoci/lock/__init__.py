"""Lock files: apko's ``apko.lock.json`` (format v1), how to write one and how to use one.

- :mod:`apkoci.lock.lockfile`: the format itself, frozen dataclasses (:class:`Lock`, ...) and
  :func:`read_lock` / :func:`write_lock`, byte-compatible with apko's own reader and writer,
  plus our per-package extension (``"apkoci": {"sha256", "size"}``) that pins the whole file.
- :mod:`apkoci.lock.packagefile`: what a lock records about an ``.apk`` (:func:`measure_package`)
  and checking a file against its lock entry (:func:`verify_package_file`).
- :mod:`apkoci.lock.lock`: :func:`lock_configuration` resolves an ``apko.yaml`` into a lock (the
  only step besides fetching that touches the network); :func:`check_fresh` tells whether a lock
  still matches its configuration; :func:`packages_for_arch` lists what to install, in order.
- :mod:`apkoci.lock.fetch`: :func:`fetch_locked_packages` downloads (or copies) the locked packages
  of one architecture and verifies each against the lock before it is kept.
- :mod:`apkoci.lock.cli`: the ``apkoci lock`` and ``apkoci fetch`` sub-commands.
"""
