"""Choosing models under a budget: the recommender (cost probe and ranking) and the recipe
search."""
