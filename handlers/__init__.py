"""Every Slack entry point, grouped by surface. Listeners acknowledge, translate the payload, and call the
core; they hold no business rules."""

from slack_bolt import App

from handlers import actions, commands, events, options, views


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    options.register(app)
    events.register(app)
