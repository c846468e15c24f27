"""tsad: quote Kalshi's weekly TSA passenger markets from a forecast."""
