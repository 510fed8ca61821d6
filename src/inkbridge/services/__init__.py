"""Use cases that tie the domain and the stores together."""
