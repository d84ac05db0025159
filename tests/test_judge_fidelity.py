"""Response-language fidelity on multi-line responses in all 12 paper languages."""
import pytest

from pinchjax import languages
from pinchjax.judge import fidelity

# Answer-like responses: two or three lines, some with a code line or an English term.
RESPONSES = {
    "ar": "إليك ثلاث نصائح للنوم الجيد.\nحاول أن تنام في نفس الوقت كل ليلة.\n"
          "ابتعد عن الهاتف قبل النوم بساعة.",
    "zh": "下面是三个改善睡眠的建议。\n每天晚上尽量在同一时间睡觉。\n睡前一个小时不要看手机。",
    "cs": "Tady jsou tři rady pro lepší spánek.\nSnažte se chodit spát každý večer ve stejnou "
          "dobu.\nHodinu před spaním nepoužívejte telefon.",
    "en": "Here are three tips for better sleep.\nTry to go to bed at the same time every "
          "night.\nPut your phone away an hour before sleeping.",
    "et": "Siin on kolm nõuannet parema une jaoks.\nProovige minna magama igal õhtul samal "
          "ajal.\nÄrge kasutage telefoni tund enne magamaminekut.",
    "fi": "Tässä on kolme vinkkiä parempaan uneen.\nYritä mennä nukkumaan joka ilta samaan "
          "aikaan.\nLaita puhelin pois tuntia ennen nukkumaanmenoa.",
    "he": "הנה שלוש עצות לשינה טובה יותר.\nנסו ללכת לישון כל לילה באותה שעה.\n"
          "הניחו את הטלפון בצד שעה לפני השינה.",
    "hi": "बेहतर नींद के लिए तीन सुझाव यहाँ हैं।\nहर रात एक ही समय पर सोने की कोशिश करें।\n"
          "सोने से एक घंटा पहले फ़ोन दूर रख दें।",
    "it": "Ecco tre consigli per dormire meglio.\nCerca di andare a letto ogni sera alla "
          "stessa ora.\nMetti via il telefono un'ora prima di dormire.",
    "ru": "Вот три совета для лучшего сна.\nСтарайтесь ложиться спать каждый вечер в одно и "
          "то же время.\nУберите телефон за час до сна.\n```\nsleep(8)\n```",
    "es": "Aquí tienes tres consejos para dormir mejor.\nIntenta acostarte todas las noches a "
          "la misma hora.\nGuarda el teléfono una hora antes de dormir.",
    "sw": "Hapa kuna vidokezo vitatu vya kulala vizuri zaidi.\nJaribu kwenda kulala kila "
          "usiku wakati uleule.\nWeka simu yako mbali saa moja kabla ya kulala.",
}


def test_in_language_responses_of_all_twelve_languages():
  assert set(RESPONSES) == set(languages.PAPER_LANGUAGES)
  pairs = [(text, lang) for lang, text in RESPONSES.items()]
  fids = fidelity.measure(pairs)
  assert [f.detected for f in fids] == list(RESPONSES)
  assert all(f.in_language for f in fids)
  summary = fidelity.summarize([lang for _, lang in pairs], fids)
  assert summary["share"] == 1.0 and summary["measured"] == 12


def test_english_answers_to_non_english_instructions_are_caught():
  # The failure the paper checked by hand: a model answering in English whatever it's asked.
  langs = [lang for lang in languages.PAPER_LANGUAGES if lang != "en"]
  pairs = [(RESPONSES[lang], lang) for lang in langs] + [(RESPONSES["en"], lang)
                                                         for lang in langs]
  fids = fidelity.measure(pairs)
  summary = fidelity.summarize([lang for _, lang in pairs], fids)
  assert summary["share"] == pytest.approx(0.5)
  for lang in langs:
    row = summary["per_language"][lang]
    assert (row["n"], row["in_language"], row["share"]) == (2, 1, 0.5)
    assert row["detected"] == {lang: 1, "en": 1}


def test_mixed_lines_weighted_by_characters():
  # A Finnish answer quoting one short English term is still Finnish.
  text = RESPONSES["fi"] + '\nEnglanniksi tätä kutsutaan nimellä "sleep hygiene".'
  assert fidelity.measure([(text, "fi")])[0] == fidelity.Fidelity("fi", True)


def test_unknown_languages_are_unmeasured_unless_a_detector_is_given():
  fids = fidelity.measure([("zorp blick", "xq"), ("", "en")])
  assert fids[0] == fidelity.Fidelity(None, None)  # toy language: not guessed
  assert fids[1] == fidelity.Fidelity(None, False)  # empty response: not in English
  summary = fidelity.summarize(["xq", "en"], fids)
  assert summary["per_language"]["xq"]["share"] is None
  assert summary["measured"] == 1
  custom = fidelity.measure([("zorp blick", "xq")], language_of=lambda t: "xq")
  assert custom[0] == fidelity.Fidelity("xq", True)


def test_slavic_follow_up_languages_are_measurable():
  text = "Ovo je kratak odgovor na hrvatskom jeziku.\nNadam se da vam pomaže."
  assert fidelity.measure([(text, "hr")])[0].in_language
