"""The OCI and Docker documents as pure, typed data. No I/O."""
