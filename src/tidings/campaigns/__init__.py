"""Campaigns, API-triggered broadcasts and newsletters: the automation engine."""
