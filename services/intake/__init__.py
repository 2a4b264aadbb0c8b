"""Intake: the public entry point for forms and channels; stores every request before answering."""
