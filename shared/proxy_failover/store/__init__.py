"""Data access: pg8000 connections, transactions, one module per aggregate. Only this package speaks SQL."""
