"""Running a plan against a provider: the executor, one step's calls, retries, crash
recovery, results."""
