"""Integer-only BERT in NumPy: the specification every hardware unit matches bit for bit."""
