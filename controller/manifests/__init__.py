"""Manifest files to values: YAML with locations, schemas, the CloudInventory, per-file caching."""
