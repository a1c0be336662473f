"""Options: Black-76 pricing, Greeks and implied vol; chain selection; order slicing. Pure, no I/O."""
