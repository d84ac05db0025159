"""A canonical JSONL file in, one canonical JSONL file per target language out, same ids.

The cache is the run's state: every answer is stored as it arrives and the output files are
rebuilt from it at the end, so a killed run, rerun, asks only for what it never got. Each
distinct (segment, source language, target language) is asked once, however many records
share it. An answer that fails a check is asked once more with a stricter prompt; if that
fails too, the record is kept (with the better answer) and listed in flags.jsonl and the
report. A request that fails outright leaves its segment in the source language, flagged
`request_failed`, uncached: a rerun asks again.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import json
import logging
import os
import time
from typing import Any, Sequence

import gin

from pinchjax import atomic_file
from pinchjax import languages
from pinchjax.clients import openai_compat as oc
from pinchjax.data import canonical
from pinchjax.translate import cache as cache_lib
from pinchjax.translate import checks as checks_lib
from pinchjax.translate import prompt as prompt_lib
from pinchjax.translate import segment

REQUEST_FAILED = "request_failed"
REPORT_FILE = "translate_report.json"
FLAGS_FILE = "flags.jsonl"


@dataclasses.dataclass(frozen=True)
class Job:
  """One question to the translator."""
  segment: segment.Segment
  source_lang: str
  target_lang: str


@dataclasses.dataclass(frozen=True)
class Outcome:
  text: str  # what goes into the record, placeholders restored
  flags: tuple[str, ...]  # failed checks of the answer used, or REQUEST_FAILED


Answer = str | oc.ClientError


class _Progress:
  """Logs done/total, rate and ETA at most every `every_s` seconds."""

  def __init__(self, what: str, total: int, every_s: float = 10.0):
    self.what, self.total, self.every_s = what, total, every_s
    self.done, self.start, self.last = 0, time.monotonic(), 0.0

  def step(self) -> None:
    self.done += 1
    now = time.monotonic()
    if now - self.last >= self.every_s or self.done == self.total:
      self.last = now
      rate = self.done / max(now - self.start, 1e-9)
      eta = (self.total - self.done) / rate if rate else float("inf")
      logging.info("%s: %d/%d requests, %.1f/s, ETA %.0fs", self.what, self.done, self.total,
                   rate, eta)


class _Requests(collections.abc.Sequence):
  """Request messages built as they are sent: a paper-size run asks ~500k questions."""

  def __init__(self, template: prompt_lib.PromptTemplate, jobs: Sequence[Job], retry: bool):
    self.template, self.jobs, self.retry = template, jobs, retry

  def __len__(self) -> int:
    return len(self.jobs)

  def __getitem__(self, index: int) -> list[dict[str, str]]:
    job = self.jobs[index]
    return self.template.messages(job.segment.text, job.source_lang, job.target_lang, self.retry)


def _ask(jobs: Sequence[Job], retry: bool, client: oc.ClientConfig, cache: cache_lib.Cache,
         template: prompt_lib.PromptTemplate, stats: oc.ClientStats) -> tuple[dict[Job, Answer], int]:
  """Answers for `jobs` from the cache, asking the translator for the rest; (answers, #asked)."""
  version = template.version + ("/retry" if retry else "")
  keys = {job: cache_lib.Key(client.model, version, job.source_lang, job.target_lang,
                             job.segment.text) for job in jobs}
  cached = cache.get_many(keys.values())
  answers: dict[Job, Answer] = {job: cached[key] for job, key in keys.items() if key in cached}
  missing = [job for job in jobs if job not in answers]
  progress = _Progress("translate retries" if retry else "translate", len(missing))

  def store(index: int, result: oc.Result) -> None:
    job = missing[index]
    if isinstance(result, oc.Completion):
      cache.put(keys[job], result.text)  # at once: a kill after this loses nothing
      answers[job] = result.text
    else:
      answers[job] = result
      logging.warning("translation into %s failed: %s", job.target_lang, result)
    progress.step()

  if missing:
    oc.run_chats(client, _Requests(template, missing, retry), on_result=store, stats=stats)
  return answers, len(missing)


def _failed(job: Job, answer: Answer, config: checks_lib.CheckConfig) -> list[str]:
  if not isinstance(answer, str):
    return [REQUEST_FAILED]
  return checks_lib.check(job.segment, answer.strip(), job.source_lang, job.target_lang, config)


def _outcome(job: Job, tries: Sequence[tuple[Answer, list[str]]]) -> Outcome:
  """The text to use and its flags, from the answers (first, then the retry's) and their checks.

  The flags are the latest answer's; the text is the latest answer with no lost markers, else
  the source segment.
  """
  flags = tries[-1][1]
  if len(tries) > 1 and REQUEST_FAILED in flags:  # the retry got no answer: keep both reasons
    flags = sorted({*tries[0][1], REQUEST_FAILED})
  usable = [a for a, f in reversed(tries)
            if isinstance(a, str) and not {checks_lib.EMPTY, checks_lib.MARKERS} & set(f)]
  return Outcome(job.segment.restore(usable[0].strip() if usable else job.segment.text),
                 tuple(flags))


@gin.configurable(denylist=["in_path", "targets", "out_dir", "fields"])
def translate_files(in_path: str, targets: str | Sequence[str], out_dir: str,
                    fields: Sequence[str] = ("instruction", "response"), *,
                    client: oc.ClientConfig = gin.REQUIRED, prompt: str = "translate-v1",
                    checks: checks_lib.CheckConfig = checks_lib.CheckConfig(),
                    cache_path: str | None = None) -> dict[str, Any]:
  """Translates `fields` of every record of `in_path` into each target language.

  Writes OUT/{lang}.jsonl (canonical, input order and ids), OUT/flags.jsonl (one line per
  flagged record and field) and OUT/translate_report.json; returns the report.

  Args:
    in_path: canonical JSONL; responses may be empty (evaluation sets).
    targets: codes, a comma list or a set name (paper, seen, unseen, slavic).
    out_dir: where the files go.
    fields: record fields to translate; the others are copied.
    client: the translator's server and decoding settings.
    prompt: a template id from pinchjax.translate.prompt.TEMPLATES.
    checks: check thresholds.
    cache_path: the SQLite cache (default OUT/translate_cache.sqlite).
  """
  bad = [f for f in fields if f not in ("instruction", "response")]
  if bad:
    raise ValueError(f"--fields: {bad[0]!r} is not translatable; use instruction, response")
  targets = languages.resolve(targets)
  template = prompt_lib.get(prompt)
  records = canonical.read_jsonl(in_path, require_response=False)
  os.makedirs(out_dir, exist_ok=True)

  pieces = {(r.id, f): segment.split(getattr(r, f)) for r in records for f in fields}
  jobs = list(dict.fromkeys(
      Job(s, r.lang, t) for t in targets for r in records if r.lang != t
      for f in fields for s in segment.segments(pieces[r.id, f])))
  stats = oc.ClientStats()
  with cache_lib.Cache(cache_path or os.path.join(out_dir, "translate_cache.sqlite")) as cache:
    first, asked = _ask(jobs, False, client, cache, template, stats)
    tries = {j: [(first[j], _failed(j, first[j], checks))] for j in jobs}
    # Failed requests were retried by the client already; failed checks get one new prompt.
    failing = [j for j in jobs if isinstance(first[j], str) and tries[j][0][1]]
    retries, asked_again = _ask(failing, True, client, cache, template, stats)
  for j, answer in retries.items():
    tries[j].append((answer, _failed(j, answer, checks)))
  outcomes = {j: _outcome(j, t) for j, t in tries.items()}

  report: dict[str, Any] = {
      "input": in_path, "model": client.model, "prompt": template.version,
      "targets": list(targets), "fields": list(fields), "records": len(records),
      "segments": {"distinct": len(jobs), "asked": asked, "from_cache": len(jobs) - asked,
                   "retried": len(failing), "retries_asked": asked_again,
                   "flagged": sum(bool(o.flags) for o in outcomes.values())},
      "languages": {}, "client": stats.as_dict()}
  flag_rows = []
  for target in targets:
    report["languages"][target] = _write_language(target, records, fields, pieces, outcomes,
                                                  out_dir, flag_rows)
  report["flagged_records"] = sum(v["flagged_records"] for v in report["languages"].values())
  report["failed_segments"] = sum(REQUEST_FAILED in o.flags for o in outcomes.values())
  atomic_file.write(os.path.join(out_dir, FLAGS_FILE),
                    (json.dumps(row, ensure_ascii=False) + "\n" for row in flag_rows))
  atomic_file.write(os.path.join(out_dir, REPORT_FILE), [json.dumps(report, indent=2) + "\n"])
  return report


def _write_language(target: str, records: Sequence[canonical.Record], fields: Sequence[str],
                    pieces: dict[tuple[str, str], list[segment.Piece]],
                    outcomes: dict[Job, Outcome], out_dir: str, flag_rows: list[dict]
                    ) -> dict[str, Any]:
  """Writes OUT/{target}.jsonl, appends its flagged fields to `flag_rows`; returns its counts."""
  out, flagged_ids, by_check, copied = [], set(), {}, 0
  for r in records:
    if r.lang == target:
      out.append(r)
      copied += 1
      continue
    values = {}
    for f in fields:
      done = [outcomes[Job(s, r.lang, target)] for s in segment.segments(pieces[r.id, f])]
      values[f] = segment.join(pieces[r.id, f],
                               lambda s, lang=r.lang: outcomes[Job(s, lang, target)].text)
      flags = sorted({flag for o in done for flag in o.flags})
      if flags:
        flag_rows.append({"id": r.id, "lang": target, "field": f, "flags": flags,
                          "segments": sum(bool(o.flags) for o in done)})
        flagged_ids.add(r.id)
        for flag in flags:
          by_check.setdefault(flag, set()).add(r.id)
    out.append(dataclasses.replace(r, lang=target, **values))
  canonical.write_jsonl(os.path.join(out_dir, f"{target}.jsonl"), out)
  return {"records": len(out), "copied": copied, "flagged_records": len(flagged_ids),
          "flagged_by_check": {k: len(v) for k, v in sorted(by_check.items())}}




def summary(report: dict[str, Any]) -> str:
  """A few lines for the terminal."""
  seg = report["segments"]
  lines = [f"translated {report['records']} records into {', '.join(report['targets'])} "
           f"with {report['model']} ({report['prompt']})",
           f"segments: {seg['distinct']} distinct, {seg['asked']} asked, {seg['from_cache']} "
           f"from cache, {seg['retried']} retried, {seg['flagged']} flagged"]
  for lang, info in report["languages"].items():
    checks = ", ".join(f"{k} {v}" for k, v in info["flagged_by_check"].items()) or "none"
    lines.append(f"  {lang}: {info['records']} records, {info['flagged_records']} flagged "
                 f"({checks})")
  if report["failed_segments"]:
    lines.append(f"{report['failed_segments']} segments got no answer and stay untranslated; "
                 "rerun the same command to ask for them (answers are cached)")
  return "\n".join(lines)
