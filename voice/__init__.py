"""Floor 2: audio as data, turn-taking, barge-in, clause chunking, the streaming pipeline."""
