"""The prompt hub: prompts, immutable versions, tags and their history, diffs, prompt files."""
