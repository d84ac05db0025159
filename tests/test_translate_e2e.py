"""Acceptance: `pinchjax translate` subprocesses against the scripted server on loopback.

The server plays a translator with wrong-language answers, empty and overlong answers, lost
markers, untranslated copies, 500s and a hang past the client's timeout. The first run is
SIGKILLed midway; the rerun finishes the files; a third run asks nothing.
"""
import collections
import json
import os
import pathlib
import re
import signal
import sqlite3
import subprocess
import sys
import time

from pinchjax.data import canonical
from pinchjax.translate import prompt
from scripted_openai_server import ScriptedServer

REPO = pathlib.Path(__file__).resolve().parents[1]
PINCHJAX = [sys.executable, "-m", "pinchjax.cli", "translate"]

# Source segments (as sent: inline code and URLs are ⟦n⟧) and their translations.
S = {
    "sort": ("How do I sort a list of numbers in Python?",
             "¿Cómo ordeno una lista de números en Python?",
             "Miten lajittelen numeroluettelon Pythonissa?"),
    "builtin": ("Use the built-in function ⟦0⟧, which returns a new list.",
                "Usa la función integrada ⟦0⟧, que devuelve una lista nueva.",
                "Käytä sisäänrakennettua funktiota ⟦0⟧, joka palauttaa uuden listan."),
    "poem": ("Write a short poem about the sea and the wind.",
             "Escribe un poema corto sobre el mar y el viento.",
             "Kirjoita lyhyt runo merestä ja tuulesta."),
    "waves": ("The waves whisper softly while the wind sings over the water.",
              "Las olas susurran suavemente mientras el viento canta sobre el agua.",
              "Aallot kuiskaavat hiljaa, kun tuuli laulaa veden yllä."),
    "where": ("Where can I read more about this topic?",
              "¿Dónde puedo leer más sobre este tema?",
              "Mistä voin lukea lisää tästä aiheesta?"),
    "docs": ("You can find the official documentation at ⟦0⟧ and many examples there.",
             "Puedes encontrar la documentación oficial en ⟦0⟧ y muchos ejemplos allí.",
             "Virallinen dokumentaatio löytyy osoitteesta ⟦0⟧, ja siellä on monia esimerkkejä."),
    "tips": ("Give me three tips for learning a new language.",
             "Dame tres consejos para aprender un idioma nuevo.",
             "Anna minulle kolme vinkkiä uuden kielen oppimiseen."),
    "speak": ("Practice speaking every single day.", "Practica hablar todos los días.",
              "Harjoittele puhumista joka ikinen päivä."),
    "read": ("Read simple books and newspapers.", "Lee libros y periódicos sencillos.",
             "Lue helppoja kirjoja ja sanomalehtiä."),
    "films": ("Watch films with subtitles.", "Mira películas con subtítulos.",
              "Katso elokuvia tekstitysten kanssa."),
}
CODE_A = "```python\nprint(sorted([3, 1, 2]))  # Sort the numbers please.\n```"
CODE_B = "```\nsea = 'wind'\n\nwaves = sea * 2\n```"
RECORDS = [
    ("r0", "How do I sort a list of numbers in Python?",
     f"Use the built-in function `sorted()`, which returns a new list.\n\n{CODE_A}\n"),
    ("r1", "Write a short poem about the sea and the wind.",
     "The waves whisper softly while the wind sings over the water."),
    ("r2", "Where can I read more about this topic?",
     "You can find the official documentation at https://docs.python.org/3/ and many "
     "examples there."),
    ("r3", "Give me three tips for learning a new language.",
     "1. Practice speaking every single day.\n2. Read simple books and newspapers.\n"
     "3. Watch films with subtitles."),
    ("r4", "How do I sort a list of numbers in Python?",  # shares its instruction with r0
     f"The waves whisper softly while the wind sings over the water.\n\n{CODE_B}"),
    ("r5", "Where can I read more about this topic?", ""),  # an eval-style empty response
    ("r6", "Write a short poem about the sea and the wind.", "```bash\nls -la\n```"),
]
LANGS = {"es": "Spanish", "fi": "Finnish"}
RETRY_MARK = "must be written in {}"  # in the retry prompt only
SLOW_S = 0.15  # every normal answer takes this long, so the kill lands midway


def _rules() -> list[dict]:
  es, fi = "into Spanish", "into Finnish"
  retry_fi = RETRY_MARK.format("Finnish")
  retry_es = RETRY_MARK.format("Spanish")
  special = [
      # es: a hang past the timeout, then an answer; two 500s, then an answer.
      {"match": [es, S["poem"][0]], "first": 1, "delay_s": 30, "reply": "late"},
      {"match": [es, S["waves"][0]], "first": 2, "status": 500, "reply": "overloaded"},
      # es: empty at first, good on retry; overlong both times (flagged length_ratio).
      {"match": [retry_es, S["where"][0]], "reply": S["where"][1]},
      {"match": [es, S["where"][0]], "reply": ""},
      {"match": [es, S["tips"][0]], "reply": S["tips"][1] + " Es muy importante." * 20},
      # fi: Spanish at first, Finnish on retry; Spanish both times (flagged language).
      {"match": [retry_fi, S["where"][0]], "reply": S["where"][2]},
      {"match": [fi, S["where"][0]], "reply": S["where"][1]},
      {"match": [fi, S["tips"][0]], "reply": S["tips"][1]},
      # fi: an untranslated copy both times; the code marker lost both times.
      {"match": [fi, S["poem"][0]], "reply": S["poem"][0]},
      {"match": [fi, S["builtin"][0]], "reply": "Käytä funktiota sorted, joka palauttaa listan."},
  ]
  normal = [{"match": [f"into {name}", src], "reply": translation, "delay_s": SLOW_S}
            for src, *translations in S.values()
            for name, translation in zip(LANGS.values(), translations)]
  return special + normal


def _write_input(path: pathlib.Path) -> None:
  path.write_text("".join(json.dumps({"id": i, "lang": "en", "instruction": ins, "response": res,
                                      "source": "test"}) + "\n" for i, ins, res in RECORDS),
                  encoding="utf-8")


def _command(inp, out, server, extra=()) -> list[str]:
  return PINCHJAX + [
      "--in", str(inp), "--to", "es,fi", "--out", str(out),
      "--gin_file=gin/translate/vllm.gin", "--gin.TRANSLATOR_MODEL='scripted-mt'",
      f"--gin.translator/ClientConfig.base_url='{server.base_url}'",
      "--gin.translator/ClientConfig.max_concurrency=2",
      "--gin.translator/ClientConfig.timeout_s=1.5",
      "--gin.translator/ClientConfig.backoff_base_s=0.05", *extra]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
  return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=90, **kw)


def _answered(server) -> collections.Counter:
  """Requests the server answered with a translation, by (system, user) message pair."""
  rules = _rules()
  ok = [r for r in server.requests() if r["rule"] is not None and
        rules[r["rule"]].get("status", 200) == 200 and rules[r["rule"]].get("delay_s", 0) < 1]
  return collections.Counter(
      (r["body"]["messages"][0]["content"], r["body"]["messages"][1]["content"]) for r in ok)


def _cached_sources(cache_path) -> set:
  with sqlite3.connect(cache_path) as db:
    return set(db.execute("SELECT prompt, target_lang, source FROM answers"))


def test_translate_killed_rerun_completes_with_flags_and_no_repeats(tmp_path):
  inp, out = tmp_path / "en.jsonl", tmp_path / "out"
  _write_input(inp)
  with ScriptedServer(tmp_path / "server", _rules()) as server:
    # Run 1: SIGKILL once a few answers are in.
    proc = subprocess.Popen(_command(inp, out, server), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(server.requests()) < 6 and time.monotonic() < deadline:
      time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    cached_at_kill = _cached_sources(out / "translate_cache.sqlite")
    assert 1 <= len(cached_at_kill) < 26 and not (out / "es.jsonl").exists()

    # Run 2 finishes the files.
    done = _run(_command(inp, out, server))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "translate_report.json").read_text())

    # Run 3 asks nothing and writes the same bytes.
    files = {p.name: p.read_bytes() for p in out.glob("*.jsonl")}
    before = len(server.requests())
    again = _run(_command(inp, out, server))
    assert again.returncode == 0 and len(server.requests()) == before
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl")} == files
    assert json.loads((out / "translate_report.json").read_text())["segments"]["asked"] == 0

    answered = _answered(server)
    rules_hit = collections.Counter(r["rule"] for r in server.requests())

  # The hang and the 500s happened (in whichever run) and cost nothing but retries.
  assert rules_hit[0] == 1 and rules_hit[1] == 2

  # No repeated request: 20 distinct first questions (10 segments x 2 languages) + 6 retries,
  # each answered once, except those in flight at the kill (at most max_concurrency = 2).
  repeated = {pair for pair, n in answered.items() if n > 1}
  assert len(answered) == 26 and all(n <= 2 for n in answered.values()) and len(repeated) <= 2
  template = prompt.get("translate-v1")
  for system, user in repeated:  # none of them had an answer in the cache at the kill
    lang = "es" if "into Spanish" in system else "fi"
    retry = RETRY_MARK.format(LANGS[lang]) in user
    source = user.split("\n\n", 1)[1] if retry else user
    version = template.version + ("/retry" if retry else "")
    assert (version, lang, source) not in cached_at_kill

  # Files complete and aligned by id; only the target-language text changed.
  src = canonical.read_jsonl(str(inp), require_response=False)
  for lang in LANGS:
    got = canonical.read_jsonl(str(out / f"{lang}.jsonl"), lang=lang, require_response=False)
    assert [r.id for r in got] == [r.id for r in src]
    fenced = re.compile(r"```.*?```", re.S)
    for a, b in zip(src, got):  # code blocks byte-identical
      assert fenced.findall(a.response) == fenced.findall(b.response)
    by_id = {r.id: r for r in got}
    assert by_id["r5"].response == "" and by_id["r6"].response == "```bash\nls -la\n```"
  es = {r.id: r for r in canonical.read_jsonl(str(out / "es.jsonl"), require_response=False)}
  assert es["r0"].response == (f"Usa la función integrada `sorted()`, que devuelve una lista "
                               f"nueva.\n\n{CODE_A}\n")
  assert es["r2"].response == ("Puedes encontrar la documentación oficial en "
                               "https://docs.python.org/3/ y muchos ejemplos allí.")
  assert es["r3"].response.split("\n") == ["1. Practica hablar todos los días.",
                                            "2. Lee libros y periódicos sencillos.",
                                            "3. Mira películas con subtítulos."]
  assert (es["r1"].instruction, es["r1"].response) == (S["poem"][1], S["waves"][1])
  assert es["r5"].instruction == S["where"][1]  # empty first answer, fixed by the retry
  fi = {r.id: r for r in canonical.read_jsonl(str(out / "fi.jsonl"), require_response=False)}
  assert fi["r2"].instruction == S["where"][2]  # wrong language first, fixed by the retry
  # A lost marker keeps the source segment, so the inline code survives.
  assert fi["r0"].response.startswith("Use the built-in function `sorted()`, which")

  # Flagged records are kept and counted.
  assert report["languages"]["es"]["flagged_by_check"] == {"length_ratio": 1}
  assert report["languages"]["fi"]["flagged_by_check"] == {
      "language": 1, "markers": 1, "untranslated": 2}
  assert {k: v["flagged_records"] for k, v in report["languages"].items()} == {"es": 1, "fi": 4}
  assert report["flagged_records"] == 5 and report["failed_segments"] == 0
  assert report["segments"]["distinct"] == 20 and report["segments"]["retried"] == 6
  flags = [json.loads(line) for line in (out / "flags.jsonl").read_text().splitlines()]
  assert sorted((f["lang"], f["id"], f["field"], tuple(f["flags"])) for f in flags) == [
      ("es", "r3", "instruction", ("length_ratio",)),
      ("fi", "r0", "response", ("markers",)),
      ("fi", "r1", "instruction", ("untranslated",)),
      ("fi", "r3", "instruction", ("language",)),
      ("fi", "r6", "instruction", ("untranslated",)),
  ]
  assert "fi: 7 records, 4 flagged" in done.stdout
