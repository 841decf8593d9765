"""What people and pipelines see: plan views, the text / markdown / JSON / YAML renderers,
apply progress."""
