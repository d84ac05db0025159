"""OpenAssistant (oasst1/oasst2) exports -> first-turn instruction/response records.

Both exports are read: the flat message file (`*.messages.jsonl`, one message a line with
`message_id`, `parent_id`, `role` "prompter"/"assistant", `text`, `lang`, `rank`, `deleted`,
`synthetic`, `review_result`, ...) and the tree file (`*.trees.jsonl`: `message_tree_id`,
`tree_state`, `prompt` with nested `replies`). Selection follows the dataset's own export
tools: deleted and synthetic messages and messages that failed review (`review_result`
false) are not used, and only trees in state "ready_for_export" (the root's `tree_state`)
are (each switchable through OasstSelection). Each usable root prompt in the wanted language
becomes one record with its best reply: reviewed before unreviewed, then the lowest `rank`,
unranked last, file order on ties. id = "oasst-{prompt message_id}".

Every message is accounted for: in a record, in `ReadResult.filtered` by reason, or skipped.
The message graph is checked first: a duplicate `message_id`, a message that is its own
parent, a parent that is not in the file (an orphan) and a parent chain that loops are
RecordErrors naming file, line and id (with on_error="skip" the message is skipped and
what hangs below it is counted). Trees are walked with explicit stacks, never recursion,
so depth is unbounded.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

import gin

from pinchjax.data import canonical, rows
from pinchjax.data.canonical import OnError, Record, RecordError, Skipped


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OasstSelection:
  """Which messages are usable. `data import` flags --keep-deleted, --keep-synthetic,
  --keep-failed-review and --any-tree-state are aliases of these bindings."""
  skip_deleted: bool = True
  skip_synthetic: bool = True
  skip_failed_review: bool = True
  tree_state: str | None = "ready_for_export"  # None: trees in any state


@dataclasses.dataclass
class _Message:
  loc: Any  # line (flat export) or tree line (tree export)
  id: str
  parent: str | None
  body: dict


def _unusable(m: dict, sel: OasstSelection) -> str | None:
  """Why a message may not be used (a reason word), or None."""
  if sel.skip_deleted and m.get("deleted"):
    return "deleted"
  if sel.skip_synthetic and m.get("synthetic"):
    return "synthetic"
  if sel.skip_failed_review and m.get("review_result") is False:
    return "failed review (review_result false)"
  return None


def _reply_order(m: dict, position: int) -> tuple:
  review = {True: 0, None: 1}.get(m.get("review_result"), 2)
  rank = m.get("rank")
  ranked = isinstance(rank, (int, float)) and not isinstance(rank, bool)
  return (review, not ranked, rank if ranked else 0, position)


def _tree_messages(path: str, loc, tree: dict) -> list[_Message]:
  """The messages of one nested tree, parents before children (explicit stack)."""
  out, stack = [], [(tree["prompt"], None)]
  while stack:
    node, parent = stack.pop()
    if not isinstance(node, dict):
      raise RecordError(path, loc, "replies", f"expected JSON objects, got {type(node).__name__}")
    mid = rows.field(path, loc, node, "message_id")
    replies = node.get("replies") or []
    if not isinstance(replies, list):
      raise RecordError(path, loc, "replies", f"of message {mid!r}: expected a list")
    out.append(_Message(loc, mid, parent, {k: v for k, v in node.items() if k != "replies"}))
    stack.extend((r, mid) for r in reversed(replies))
  return out


def _check_graph(path: str, messages: list[_Message]) -> tuple[dict[str, _Message],
                                                               list[tuple[int, RecordError]]]:
  """(id -> first message with that id, [(file position, error)]) for duplicate ids,
  self-parents, orphans and cycles; rejected messages are left out of the map."""
  by_id: dict[str, _Message] = {}
  errors: list[tuple[int, RecordError]] = []
  order = {}
  for pos, m in enumerate(messages):
    if m.id in by_id:
      first = by_id[m.id].loc
      where = f"line {first}" if isinstance(first, int) else first
      errors.append((pos, RecordError(path, m.loc, "message_id", f"duplicate message_id "
                                      f"{m.id!r} (first at {where})")))
    elif m.parent == m.id:
      errors.append((pos, RecordError(path, m.loc, "parent_id",
                                      f"message {m.id!r} is its own parent")))
      order[m.id] = pos
    else:
      by_id[m.id] = m
      order[m.id] = pos
  for m in [m for m in by_id.values() if m.parent is not None and m.parent not in order]:
    errors.append((order[m.id], RecordError(
        path, m.loc, "parent_id", f"message {m.id!r}: parent {m.parent!r} is not in the "
        "file (orphan)")))
    del by_id[m.id]
  # A parent chain that never reaches a root, a missing or a rejected parent is a cycle:
  # follow parent pointers from each message, settling every walk, to find each cycle once.
  settled: set[str] = set()
  for start in list(by_id):
    walk: dict[str, int] = {}
    mid = start
    while mid in by_id and mid not in settled and mid not in walk:
      walk[mid] = len(walk)
      mid = by_id[mid].parent
    if mid in walk:
      cycle = list(walk)[walk[mid]:]
      first = min(cycle, key=order.__getitem__)
      i = cycle.index(first)
      chain = " -> ".join(cycle[i:] + cycle[:i] + [first])
      for c in cycle:
        errors.append((order[c], RecordError(
            path, by_id[c].loc, "parent_id", f"message {c!r}: parent chain loops ({chain})")))
        del by_id[c]
    settled.update(walk)
  return by_id, errors


def _count_below(children: dict[str, list[_Message]], tops: list[_Message]) -> int:
  """How many messages hang below `tops` (not counting them)."""
  stack, n = list(tops), 0
  while stack:
    kids = children.get(stack.pop().id, [])
    n += len(kids)
    stack.extend(kids)
  return n


def _select(path: str, root: _Message, replies: list[_Message], lang: str,
            sel: OasstSelection, filtered: collections.Counter) -> Record | None:
  """The record for one root prompt, or None; counts every message not used by reason in
  `filtered` (only on success, so that a RecordError leaves the counts to the caller)."""
  prompt = root.body
  for key in ("text", "lang"):
    rows.field(path, root.loc, prompt, key)
  if prompt.get("role") != "prompter":
    raise RecordError(path, root.loc, "role", f"root message {root.id!r} must be a "
                      "'prompter' message")
  why, state = _unusable(prompt, sel), prompt.get("tree_state")
  if why:
    reason = f"{why} prompts"
  elif sel.tree_state is not None and state is not None and state != sel.tree_state:
    reason = f"prompts of trees in state {state!r}"
  elif prompt["lang"] != lang:
    reason = f"prompts in another language ({prompt['lang']})"
  else:
    reason = None
  counts: collections.Counter = collections.Counter()
  usable = []
  for position, r in enumerate(replies):
    if reason is not None:
      counts["replies to prompts not selected"] += 1
    elif r.body.get("role") != "assistant":
      counts["first-turn replies that are not assistant messages"] += 1
    elif (r_why := _unusable(r.body, sel)) is not None:
      counts[f"{r_why} replies"] += 1
    else:
      usable.append((_reply_order(r.body, position), r))
  record = None
  if reason is not None:
    counts[reason] += 1
  elif not usable:
    counts["prompts without a usable assistant reply"] += 1
  else:
    best = min(usable, key=lambda pair: pair[0])[1]
    record = canonical.make_record(
        path, root.loc, id=f"oasst-{root.id}", lang=lang, instruction=prompt["text"],
        response=rows.field(path, best.loc, best.body, "text"), source="oasst")
    if len(usable) > 1:
      counts["replies not chosen (a better one was)"] += len(usable) - 1
  filtered.update(counts)
  return record


def read_oasst(path: str, lang: str, on_error: OnError = "raise",
               selection: OasstSelection | None = None) -> rows.ReadResult:
  sel = selection or OasstSelection()
  skipped, filtered = Skipped(), collections.Counter()
  messages: list[_Message] = []
  for loc, obj in rows.items(path, on_error, skipped):
    try:
      if isinstance(obj, dict) and isinstance(obj.get("prompt"), dict):  # a nested tree
        tree = _tree_messages(path, loc, obj)
        if "tree_state" in obj:  # flat exports carry it on every message
          tree[0].body.setdefault("tree_state", obj["tree_state"])
        messages.extend(tree)
        continue
      for key in ("message_id", "role", "text"):
        rows.field(path, loc, obj, key)
      parent = obj.get("parent_id")
      if parent is not None and not isinstance(parent, str):
        raise RecordError(path, loc, "parent_id", f"expected a string or null, got "
                          f"{type(parent).__name__}")
      messages.append(_Message(loc, obj["message_id"], parent, obj))
    except RecordError as e:
      canonical.handle(e, on_error, skipped)

  by_id, errors = _check_graph(path, messages)
  for _, error in sorted(errors, key=lambda e: e[0]):
    canonical.handle(error, on_error, skipped)
  children: dict[str, list[_Message]] = collections.defaultdict(list)
  for m in by_id.values():
    if m.parent is not None:
      children[m.parent].append(m)

  records: list[Record] = []
  reached = 0
  for root in [m for m in by_id.values() if m.parent is None]:
    first = children[root.id]
    below = _count_below(children, first)
    reached += 1 + len(first) + below
    if below:
      filtered["messages below the first turn"] += below
    try:
      record = _select(path, root, first, lang, sel, filtered)
    except RecordError as e:
      canonical.handle(e, on_error, skipped)
      if first:
        filtered["replies to a skipped prompt"] += len(first)
      continue
    if record is not None:
      records.append(record)
  if len(by_id) > reached:
    filtered["messages below a rejected message"] += len(by_id) - reached
  return rows.ReadResult(records, skipped, filtered)
