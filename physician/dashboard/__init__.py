"""The physician's local dashboard (and the shared web plumbing of the patient device page)."""
