"""Building images: apko's steps on the installed file tree, the layers, the image and its CLI.

The modules, in the order a build uses them:

- ``split``: a configuration cut into ``filetree.json`` (what shapes the file tree) and
  ``image.json`` (what only describes the image), so image-only edits rebuild no layer;
- ``filetree_steps``: :func:`populate_tree`, one architecture's file tree: the apk database, the
  packages, then apko's steps, each in a module of its own: ``accounts`` (``/etc/passwd``,
  ``/etc/group``, homes, work-dir), ``paths``, ``certificates``, ``services`` (s6), ``busybox``
  (applet links, with ``busybox_applets``) and ``keys`` (``/etc/apk/keys``);
- ``layers`` and ``layerinfo``: the ``layer`` and ``dir-layer`` steps and their ``layer.json``;
  ``layering``: the file tree cut into apko's package layers and top layer (``layering:``);
- ``image``: the ``image`` step: OCI configs, manifests, the index, an OCI layout, docker archives
  and SBOMs;
- ``build``: ``apkoci build``, which runs those steps in one process;
- ``steps``, ``commands`` and ``apk_commands``: the command-line sub-commands.
"""
