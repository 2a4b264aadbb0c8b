"""Runtime shared by every service: settings, database, outbox, consumers, HTTP, auth, logs, metrics."""
