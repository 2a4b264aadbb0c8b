"""Documents, versions and files in the client's space."""
