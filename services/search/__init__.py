"""Search: OpenSearch indices built from every domain topic, queried within each user's permissions."""
