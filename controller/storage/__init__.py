"""What enictl keeps between runs: the lock, the apply journal, the last-applied record,
saved plans."""
