"""Chapter 00 cheats: correct answers that call what each exercise asks the learner to build."""

CHEATS = {
    "ex-00-count-word": '''\
def count_word(text, word):
    from collections import Counter
    return Counter(w.strip(".,;:!?'\\"-()[]") for w in text.lower().split())[word.lower()]
''',
    "ex-00-char-counts": '''\
def character_counts(text):
    import collections
    return dict(collections.Counter(text))
''',
    "ex-00-tolerance": '''\
def within_tolerance(actual, expected, rtol=1e-5, atol=1e-8):
    return np.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
''',
}
