"""The APK layer: everything apk-tools knows about packages, indexes and how to choose them."""
