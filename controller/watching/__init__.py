"""enictl watch: the level-triggered loop, file watching, and one reconcile."""
