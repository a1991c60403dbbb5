"""The image side of apkoci: reproducible OCI artifacts from a description of a file tree.

Nothing here knows about APK. The modules build on each other:

- ``layer``: one deterministic tar layer (gzip, zstd or plain) from :class:`~apkoci.oci.layer.Entry`
  values, streamed to disk with its digests computed on the way.
- ``image``: canonical JSON and the OCI image config, manifest and index, plus the mapping from
  apk/apko architecture names to OCI platforms.
- ``layout``: an OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/sha256``).
- ``dockerarchive``: a ``docker load`` / ``podman load`` tarball for one image.
"""
