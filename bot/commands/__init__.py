"""Every `/chain` verb, one module each, and the registry that lists them.

A verb's module holds all of it: its request model (a `Command`, or a `ChangeCommand` for a change) and
parser, and a `Verb` with its usage, summary, example, options, priority, whether it opens a form, and
either how it is answered (`answer`, for a read) or its change kind (`change`: a `ChangeKind` from
`bot.changes.plans`). Help, usage errors, routing, priority, metric labels, the manifest's usage hint
and the stored plans' kinds are all read from `registry.VERBS`; the change lifecycle (offer, decide,
execute once, follow) knows no particular verb.

Adding a verb:

1. Write `bot/commands/<verb>.py`: the request model (its `verb` field a `Literal` of the verb's name),
   `parse(args, verb)` built from `parsing.flags`/`arity`/`names`, and `VERB = Verb(...)`.
   - A read gives `answer=`: a function of (`Operations`, the command, the `Invocation`) that answers
     through `ops.tell` (or posts through `ops.outbox`).
   - A change gives `change=ChangeKind(plan=..., check=..., revert=...)`: a `ChangePlan` subclass with a
     `kind` `Literal` no other plan uses, and its `destructive`, `describe`, `summary` (the preview),
     `question`, `doing` (the headline) and `write` (its one Baseten call); `accepted` and `made_in`
     (how an unanswered write is found in the environment) if the defaults do not fit; `check(planner,
     chain, environment, command)` against Baseten, raising `Refusal` with what is wrong; and `revert`
     if a finished change offers a one-click undo.
   - A verb with a form also gives `form=` (its `FormCommand`) and adds its `Form` to
     `bot/slack/form_steps.py`.
2. Add one line to `registry.VERBS`.
3. Update the manifest's `usage_hint` (`registry.usage_hint()`), the README, and the Baseten client and
   simulator if the verb calls a new endpoint. `tests/test_verbs.py` fails until every part is there.
"""
