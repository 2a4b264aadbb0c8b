"""CRM: clients, pipelines and deals; the heart of the client process."""
