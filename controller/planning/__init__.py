"""The pure planning core: diff, rules, ordering, the plan simulator, drift labels. No I/O."""
