"""Records in: request bodies and files (`batch`), streamed and validated in parallel (`importer`)."""
