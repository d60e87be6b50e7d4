"""The text modality: corpus, tokenizer, a torch language model, watermarking, near-duplicates, metrics."""
