"""Live system-test progress: test machines report a dry run, then each test's start and stop."""
