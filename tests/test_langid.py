from pinchjax.data import langid

SAMPLES = {
    "ar": "مرحبا، كيف حالك اليوم؟ أتمنى أن تكون بخير.",
    "zh": "你好，你今天怎么样？我希望你一切都好。",
    "cs": "Ahoj, jak se dnes máš? Doufám, že je všechno v pořádku.",
    "en": "Hello, how are you today? I hope everything is fine.",
    "et": "Tere, kuidas sul täna läheb? Loodan, et kõik on korras.",
    "fi": "Hei, mitä sinulle kuuluu tänään? Toivottavasti kaikki on hyvin.",
    "he": "שלום, מה שלומך היום? אני מקווה שהכול בסדר.",
    "hi": "नमस्ते, आज आप कैसे हैं? मुझे आशा है कि सब ठीक है।",
    "it": "Ciao, come stai oggi? Spero che vada tutto bene.",
    "ru": "Привет, как у тебя дела сегодня? Надеюсь, всё хорошо.",
    "es": "Hola, ¿cómo estás hoy? Espero que todo esté bien.",
    "sw": "Habari, hujambo leo? Natumaini kila kitu kiko sawa.",
}


def test_all_paper_languages_identified():
  for lang, text in SAMPLES.items():
    assert langid.identify(text) == lang, lang


def test_dominant_language_by_characters_and_empty():
  text = SAMPLES["ru"] + "\n" + SAMPLES["ru"] + "\nOK then\n```\nx = 1\n```"
  assert langid.identify(text) == "ru"
  assert langid.identify("  \n123\n") is None
  assert langid.matches(SAMPLES["fi"], "fi") and not langid.matches(SAMPLES["fi"], "et")
