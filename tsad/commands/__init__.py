"""Operator commands: the CLI, forecasting, backtests, actuals, reports and the quote sheet."""
