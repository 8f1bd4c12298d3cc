"""City complaint history: read a city's exported records (311 / 12345 hotlines) into plain rows, import them."""
