"""Notification channels (Slack, email, Teams, console) and the outbox dispatcher that chains them."""
