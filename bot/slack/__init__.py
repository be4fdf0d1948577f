"""The Slack surface: the Bolt app, Block Kit builders, modals and forms, the gateway and the outbox."""
