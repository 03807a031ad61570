"""What every layer shares: the exception tree, artifact checksums, the finite ranges of
the numbers the service accepts. It imports nothing of the project."""
