"""NLP helpers: NLTK resources (lazy), POS tags, WordNet."""
