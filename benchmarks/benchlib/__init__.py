"""The benchmark runner's parts: the servers under test, the workloads, the report."""
