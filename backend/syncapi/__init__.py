"""The CouchDB-compatible replication endpoint at /sync/caseload."""
