"""What Slack refuses, checked on every payload the fake Slack receives.

Block Kit structure and documented limits come from slack_sdk's own models (`Block.parse`, `View(**...)`,
`to_dict()` validates recursively). The rules slack_sdk does not check live here: a view with inputs needs
`submit`, block counts per surface, and mrkdwn that Slack would turn into markup we did not intend:
unescaped `&`, `<`, `>`, and formatting that a person typed (the fake knows what was typed: `typed`)
shown as formatting rather than as typed. Bidirectional controls are refused everywhere.

Each check returns a list of reasons; an empty list means Slack would accept the payload."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, Option, OptionGroup
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_OPTIONS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_FIELD_ERROR = 2000  # Slack truncates longer messages; longer means we built something unreadable

# Markup the bot may send: user and channel mentions, user group mentions, and links. Never a broadcast
# (`<!here>`, `<!channel>`, `<!everyone>`) and no other `<!...>` command.
_MENTION = re.compile(r"^(@[UW][A-Z0-9]+|#C[A-Z0-9]+(\|[^|<>]*)?|!subteam\^S[A-Z0-9]+(\|[^|<>]*)?)$")
_LINK = re.compile(r"^(https?://[^\s|<>]+|mailto:[^\s|<>]+)(\|[^|<>]*)?$")
_ANGLED = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ESCAPED = re.compile(r"&(amp|lt|gt);")
_DOUBLE = re.compile(r"&amp;(amp|lt|gt);")
# Right-to-left overrides, embeddings, isolates and marks: they reorder what follows them on the line.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What Slack renders as formatting: a marker not inside a word, text, the same marker not inside a word.
_SPANS = [
    re.compile(rf"(?<![^\W_]){m}[^\s{m}](?:[^{m}\n]*[^\s{m}])?{m}(?![^\W_])") for m in (r"\*", "_", "~")
] + [re.compile(r"```.+?```", re.DOTALL), re.compile(r"`[^`\s](?:[^`\n]*[^`\s])?`")]
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def formatting_in(typed: str) -> list[str]:
    """The pieces of what a person typed that Slack would show as formatting if sent as they are."""
    return [match.group() for span in _SPANS for match in span.finditer(typed)]


def _bidi_problems(text: str, where: str) -> list[str]:
    if found := _BIDI.search(text):
        return [f"{where}: bidirectional control U+{ord(found.group()):04X} reorders the text after it"]
    return []


# What the bot sends instead of a formatting character in text (bot/slack/markup.py), and that character.
_LOOKALIKES = {"\u2217": "*", "\u02cd": "_", "\u223c": "~", "\u02cb": "`"}


def _formatting_problems(text: str, where: str, typed: Sequence[str]) -> list[str]:
    """Formatting a person typed, sent so that Slack formats it instead of showing it as typed. Inside
    the bot's own code spans nothing is formatted, except a backtick that ends the span early.

    The other way round too: a look-alike where nobody typed the character it stands for is the bot's
    own formatting sent as text (a plain string instead of `md(...)`), and shows as `∗Preview∗`."""
    outside_code = _CODE.sub(" ", text)
    problems = [
        f"{where}: {original!r} sent as text although nobody typed it (build the markup with md()): "
        f"{_excerpt(text, lookalike)}"
        for lookalike, original in _LOOKALIKES.items()
        if lookalike in text and not any(original in t for t in typed)
    ]
    for piece in {p for t in typed for p in formatting_in(t)}:
        sent = piece.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        where_to_look = text if piece.startswith("`") else outside_code
        if piece in where_to_look or sent in where_to_look:
            problems.append(f"{where}: typed {piece!r} would show as formatting, not as typed")
    return problems


def mrkdwn_problems(text: str, where: str, typed: Sequence[str] = ()) -> list[str]:
    """Unescaped `&`, `<`, `>`, markup the bot must not send, and typed formatting, in one mrkdwn string."""
    problems: list[str] = _bidi_problems(text, where) + _formatting_problems(text, where, typed)
    rest: list[str] = []
    last = 0
    for match in _ANGLED.finditer(text):
        rest.append(text[last : match.start()])
        last = match.end()
        inner = match.group(1)
        link = _LINK.match(inner)
        if link:
            label = link.group(2) or ""
            rest.append(label)  # the label is text: its `&` must be an entity
        elif not _MENTION.match(inner):
            problems.append(f"{where}: <{inner}> is neither a mention nor a link (escape it as &lt;…&gt;)")
    rest.append(text[last:])
    plain = "".join(rest)
    for char in "<>":
        if char in plain:
            problems.append(f"{where}: unescaped {char!r} in {_excerpt(text, char)}")
    if "&" in _ENTITY.sub("", plain):
        problems.append(f"{where}: bare '&' (send &amp;) in {_excerpt(text, '&')}")
    if _DOUBLE.search(text):
        problems.append(f"{where}: escaped twice (a person would read '&lt;'): {_excerpt(text, '&amp;')}")
    return problems


def plain_text_problems(text: str, where: str) -> list[str]:
    """plain_text is shown as typed: an entity there means text was escaped by mistake."""
    if _ESCAPED.search(text):
        return [f"{where}: plain_text shows an HTML entity literally: {_excerpt(text, '&')}"]
    return _bidi_problems(text, where)


def check_message(
    params: dict[str, Any], *, surface: str = "message", typed: Sequence[str] = ()
) -> list[str]:
    """chat.postMessage, chat.update, chat.postEphemeral and response_url bodies."""
    problems: list[str] = []
    blocks = params.get("blocks")
    text = params.get("text")
    if blocks is not None:
        if not isinstance(blocks, list):
            return [f"{surface}: blocks must be an array"]
        if len(blocks) > MAX_MESSAGE_BLOCKS:
            problems.append(f"{surface}: {len(blocks)} blocks (at most {MAX_MESSAGE_BLOCKS})")
        problems += _blocks_problems(blocks, surface, typed)
    if text is not None:
        if not isinstance(text, str):
            problems.append(f"{surface}: text must be a string")
        else:
            if len(text) > MAX_MESSAGE_TEXT:
                problems.append(f"{surface}: text of {len(text)} characters")
            if params.get("mrkdwn", True) not in (False, "false"):
                problems += mrkdwn_problems(text, f"{surface} text", typed)
    return problems


def check_view(view: Any, typed: Sequence[str] = ()) -> list[str]:
    """views.open, views.update, views.push and `response_action: update|push` bodies."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return ["view: not JSON"]
    if not isinstance(view, dict):
        return ["view: must be an object"]
    problems: list[str] = []
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return ["view: blocks must be a non-empty array"]
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"view: {exc}")
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"view: {len(blocks)} blocks (at most {MAX_VIEW_BLOCKS})")
    title = (view.get("title") or {}).get("text", "")
    if not 1 <= len(title) <= MAX_TITLE:
        problems.append(f"view: title {title!r} must be 1 to {MAX_TITLE} characters")
    if len(str(view.get("private_metadata") or "")) > MAX_PRIVATE_METADATA:
        problems.append(f"view: private_metadata longer than {MAX_PRIVATE_METADATA}")
    if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks) and not view.get("submit"):
        problems.append("view: a view with input blocks needs submit")
    for key in ("title", "submit", "close"):
        if isinstance(view.get(key), dict):
            problems += plain_text_problems(str(view[key].get("text", "")), f"view {key}")
    problems += _blocks_problems(blocks, "view", typed)
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        problems.append("view: duplicate block_id")
    return problems


def check_home(view: Any, typed: Sequence[str] = ()) -> list[str]:
    """views.publish: a view of type home (no title, submit or inputs), at most 100 blocks."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return ["home: not JSON"]
    if not isinstance(view, dict):
        return ["home: must be an object"]
    problems: list[str] = []
    if view.get("type") != "home":
        problems.append(f"home: type must be home, not {view.get('type')!r}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return [*problems, "home: blocks must be a non-empty array"]
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"home: {exc}")
    if len(blocks) > MAX_VIEW_BLOCKS:
        problems.append(f"home: {len(blocks)} blocks (at most {MAX_VIEW_BLOCKS})")
    if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
        problems.append("home: a home tab has no submit, so no input blocks")
    if len(str(view.get("private_metadata") or "")) > MAX_PRIVATE_METADATA:
        problems.append(f"home: private_metadata longer than {MAX_PRIVATE_METADATA}")
    problems += _blocks_problems(blocks, "home", typed)
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        problems.append("home: duplicate block_id")
    return problems


def check_options(body: dict[str, Any]) -> list[str]:
    """The answer to a block_suggestion (external select typeahead)."""
    problems: list[str] = []
    options = body.get("options")
    groups = body.get("option_groups")
    try:
        if options is not None:
            if len(options) > MAX_OPTIONS:
                problems.append(f"options: {len(options)} (at most {MAX_OPTIONS})")
            for option in Option.parse_all(options) or []:
                option.to_dict()
        if groups is not None:
            for group in OptionGroup.parse_all(groups) or []:
                group.to_dict()
    except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
        problems.append(f"options: {exc}")
    for node, where in _typed_texts(options or groups or []):
        if node.get("type") == "plain_text":
            problems += plain_text_problems(str(node.get("text", "")), where)
    return problems


def check_view_response(
    body: dict[str, Any], view: dict[str, Any] | None = None, typed: Sequence[str] = ()
) -> list[str]:
    """The answer to a view_submission: `errors` keyed by input block_ids, or a view to show."""
    action = body.get("response_action")
    if action is None:
        return [] if not body else [f"view_submission answer without response_action: {sorted(body)}"]
    if action in ("update", "push"):
        return check_view(body.get("view"), typed)
    if action == "clear":
        return []
    if action != "errors":
        return [f"unknown response_action {action!r}"]
    errors = body.get("errors")
    if not isinstance(errors, dict) or not errors:
        return ["response_action errors needs a non-empty errors object"]
    problems: list[str] = []
    inputs = None
    if view is not None and view.get("blocks"):
        inputs = {b.get("block_id") for b in view["blocks"] if b.get("type") == "input"}
    for block_id, message in errors.items():
        if not isinstance(message, str) or not message:
            problems.append(f"errors[{block_id}]: needs a message")
            continue
        if len(message) > MAX_FIELD_ERROR:
            problems.append(f"errors[{block_id}]: message of {len(message)} characters")
        problems += plain_text_problems(message, f"errors[{block_id}]")
        if inputs is not None and block_id not in inputs:
            problems.append(f"errors[{block_id}]: no input block with that block_id")
    return problems


# -- pieces ----------------------------------------------------------------------------------------------


def _blocks_problems(blocks: list[Any], surface: str, typed: Sequence[str] = ()) -> list[str]:
    problems: list[str] = []
    for index, raw in enumerate(blocks):
        where = f"{surface} block {index}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: not an object")
            continue
        try:
            block = Block.parse(raw)
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        if block is None:
            problems.append(f"{where}: unknown block type {raw.get('type')!r}")
            continue
        try:
            block.to_dict()
        except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"{where} ({raw.get('type')}): {exc}")
        for node, path in _typed_texts(raw, where):
            text = str(node.get("text", ""))
            if node.get("type") == "mrkdwn":
                problems += mrkdwn_problems(text, path, typed)
            else:
                problems += plain_text_problems(text, path)
    return problems


def _typed_texts(node: Any, where: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every text object ({"type": "mrkdwn"|"plain_text", "text": ...}) inside a payload."""
    if isinstance(node, list):
        for child in node:
            yield from _typed_texts(child, where)
    elif isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node, where
            return
        for value in node.values():
            yield from _typed_texts(value, where)


def _excerpt(text: str, char: str) -> str:
    at = max(0, text.find(char))
    return repr(text[max(0, at - 30) : at + 30])
