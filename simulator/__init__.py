"""Floor 3: persona sampling, user agents, text and audio dialogue runners, batches."""
