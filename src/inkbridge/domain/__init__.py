"""Pure rules of inkbridge: no I/O, no framework imports."""
