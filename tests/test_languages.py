import json

import gin
import pytest

from pinchjax import languages


# Registration is process-wide: every test here leaves the registry as it found it.
pytestmark = pytest.mark.usefixtures("language_registry")


def test_paper_sets():
  assert len(languages.PAPER_LANGUAGES) == 12
  assert set(languages.SEEN) | set(languages.UNSEEN) == set(languages.PAPER_LANGUAGES)
  assert not set(languages.SEEN) & set(languages.UNSEEN)
  assert languages.get("hi").script == "Devanagari"
  assert languages.resolve("seen") == ("en", "ar", "fi", "it", "ru", "sw")
  assert languages.resolve("en, fi") == ("en", "fi")


def test_unknown_code_lists_known_ones_and_says_how_to_register():
  with pytest.raises(languages.UnknownLanguageError,
                     match=r"known codes: .*en.*zh\. Register it for a run with --languages FILE"):
    languages.get("xx")
  with pytest.raises(languages.UnknownLanguageError):
    languages.resolve("en,xx")


def test_register_new_code():
  languages.register("de", "German", "Indo-European", "Latin")
  assert languages.check("de") == "de"
  with pytest.raises(ValueError, match="already registered"):
    languages.register("de", "German", "Germanic", "Latin")
  with pytest.raises(ValueError, match="ISO 639-1"):
    languages.register("deu", "German", "Indo-European", "Latin")


def test_fixture_restored_the_registry():
  assert "de" not in languages.known()


def test_register_all_from_gin_tsv_and_json(tmp_path):
  tsv = tmp_path / "langs.tsv"
  tsv.write_text("code\tname\tfamily\tscript\n# Germanic\nde\tGerman\tIndo-European\tLatin\n\n"
                 "nl\tDutch\tIndo-European\tLatin\n", encoding="utf-8")
  js = tmp_path / "langs.json"
  js.write_text(json.dumps([{"code": "ja", "name": "Japanese", "family": "Japonic",
                             "script": "Kanji/Kana"}, ["ko", "Korean", "Koreanic", "Hangul"]]))
  gin.parse_config([f"register_all.files = ['{tsv}', '{js}']",
                    "register_all.languages = [('mi', 'Maori', 'Austronesian', 'Latin')]"])
  got = languages.register_all()
  assert [l.code for l in got] == ["mi", "de", "nl", "ja", "ko"]
  assert languages.get("ko").script == "Hangul" and languages.get("nl").name == "Dutch"
  assert languages.register_all() == got  # registering the same facts again is fine


@pytest.mark.parametrize("name, text, error", [
    ("bad.tsv", "de\tGerman\tIndo-European\n", r"bad.tsv:1: a language needs four"),
    ("bad.json", '{"code": "de"}', r"bad.json: expected a JSON list"),
    ("bad2.json", '[{"code": "de", "name": "German"}]', r"bad2.json: item 0: a language needs"),
    ("clash.tsv", "en\tEnglish\tGermanic\tLatin\n", r"'en' is already registered"),
])
def test_language_file_errors_name_file_and_row(tmp_path, name, text, error):
  path = tmp_path / name
  path.write_text(text, encoding="utf-8")
  with pytest.raises(ValueError, match=error):
    languages.register_all(files=[str(path)])


def test_languages_flag_is_global_only_for_a_language_file():
  from pinchjax import cli  # pylint: disable=import-outside-toplevel
  assert cli.split_global_flags(["data", "toyworld", "--languages", "en,fi", "--debug"]) == (
      True, [], ["data", "toyworld", "--languages", "en,fi"])
  assert cli.split_global_flags(["--languages", "a.tsv", "judge", "--languages=b.JSON", "-x"]) \
      == (False, ["a.tsv", "b.JSON"], ["judge", "-x"])
