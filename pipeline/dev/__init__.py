"""Developer tools (the smoke demo and its preloaded interpreter); nothing in the product imports them."""
