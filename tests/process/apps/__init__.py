"""Apps and a process harness for the supervisor and CLI tests."""
