"""What the pipeline keeps and trusts: the anchor, the ledger, provenance, signatures, the workspace
lock, staging and tracking; plain Python, no Prefect."""
