"""Tasks in client context and the loop back to the deal."""
