"""Floor 2: dialogue types, domain packs, the thought + response policy, compliance."""
