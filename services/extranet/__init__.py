"""Client portal by invitation, within a sharing policy."""
