"""The embedded simulated cloud: SQLite behind the Provider protocol, with the cloud's
own refusals."""
