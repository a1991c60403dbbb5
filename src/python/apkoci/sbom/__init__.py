"""Software bills of materials of the images apkoci builds, the way apko writes them.

- ``facts``: the input, :class:`~apkoci.sbom.facts.ImageFacts` for one platform's image and
  :class:`~apkoci.sbom.facts.IndexFacts` for a multi-platform index, plus what both formats share
  (package URLs, suppliers, checksums, dependencies, canonical bytes).
- ``licenses``: an APK license field as a valid SPDX license expression.
- ``spdx``: SPDX 2.3 JSON (``sbom-<arch>.spdx.json``, ``sbom-index.spdx.json``).
- ``cyclonedx``: CycloneDX 1.5 JSON (``sbom-<arch>.cdx``, ``sbom-index.cdx``).

Every document is a pure function of its facts: the same facts give the same bytes.
"""
