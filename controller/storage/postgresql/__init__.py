"""The PostgreSQL state backend (`--state-backend postgresql://...`), through psycopg 3.

`connection`: connecting (the URL, or libpq's PG* environment for what it leaves out),
timeouts that bound a lost network, the versioned schema created on first use.
`lease`: the lock as a lease row timed by the database's clock, with an epoch counter,
renewed in the background. `store`: the backend itself, the journal table whose
every write is a compare-and-swap on the holder's epoch, and the last-applied record.
"""
