import pytest

from guiapp.core.errors import LabelError
from guiapp.core.labels import imagenet_labels


@pytest.fixture(scope="module")
def labels():
    return imagenet_labels()


def test_thousand_classes_in_order(labels):
    assert len(labels) == 1000
    assert labels[0].wnid == "n01440764" and labels[0].name == "tench"
    assert labels[999].wnid == "n15075141"


@pytest.mark.parametrize("text", ["tabby", "Tabby Cat", "  TABBY   cat ", "n02123045", "281", 281])
def test_resolves_name_synonym_wnid_index_case_insensitively(labels, text):
    assert labels.resolve(text) == 281


def test_ambiguous_label_lists_candidates(labels):
    with pytest.raises(LabelError) as info:
        labels.resolve("crane")
    message = str(info.value)
    assert "ambiguous" in message and "134" in message and "517" in message
    assert "crane (bird)" in message and "crane (machine)" in message


def test_unknown_label_suggests_close_names(labels):
    with pytest.raises(LabelError, match="did you mean.*'tabby'"):
        labels.resolve("tabyy")


@pytest.mark.parametrize("bad", ["", "1000", -1])
def test_empty_and_out_of_range(labels, bad):
    with pytest.raises(LabelError):
        labels.resolve(bad)


def test_display_names_are_unique(labels):
    assert len(set(labels.names)) == 1000


def test_search_matches_synonyms(labels):
    hits = {c.index for c in labels.search("corgi")}
    assert hits == {263, 264}


def _names(classes):
    return [c.name for c in classes]


def test_search_ranks_whole_words_before_parts_of_words(labels):
    names = _names(labels.search("cat"))
    cats = ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]
    assert names[:5] == cats
    # "bullfrog, Rana catesbeiana" only starts a word with "cat": after every cat class.
    assert names.index("bullfrog") > max(names.index(c) for c in cats)


def test_search_puts_the_exact_name_first(labels):
    assert labels.search("tiger")[0].name == "tiger"
    assert labels.search("goldfish")[0].name == "goldfish"
    assert _names(labels.search("281")) == ["tabby"]


def test_suggest_finds_misspellings(labels):
    assert labels.suggest("golfish")[0].name == "goldfish"
    assert labels.suggest("tabyy")[0].name == "tabby"
    assert labels.suggest("zzzzqqq") == [] and labels.suggest("") == []


def test_unknown_label_suggests_the_ranked_matches(labels):
    with pytest.raises(LabelError) as info:
        labels.resolve("cat")
    message = str(info.value)
    assert "'tabby'" in message and "'tiger cat'" in message
    assert "crate" not in message and "coast" not in message
    with pytest.raises(LabelError, match="did you mean: 'goldfish'"):
        labels.resolve("golfish")


def test_label_errors_name_no_front_end(labels):
    # The GUI shows these messages too: no CLI command or flag in them.
    for bad in ("golfish", "crane", "zzzzqqq", ""):
        with pytest.raises(LabelError) as info:
            labels.resolve(bad)
        assert "guiapp-cli" not in str(info.value) and "--" not in str(info.value)


@pytest.mark.parametrize(
    "wnid, name",
    [
        ("n02012849", "crane (bird)"),
        ("n03126707", "crane (machine)"),
        ("n03710637", "maillot (dancer's tights)"),
        ("n03710721", "maillot (tank suit, swimsuit)"),
        ("n02113186", "Cardigan (Welsh corgi dog)"),
        ("n02963159", "cardigan (sweater)"),
    ],
)
def test_shared_names_say_which_is_which(labels, wnid, name):
    c = next(c for c in labels.classes if c.wnid == wnid)
    assert c.name == name
    assert labels.resolve(name) == c.index
    assert name in _names(labels.search(name.split()[0]))


@pytest.mark.parametrize("label, expected", [("cat", "'tabby'"), ("golfish", "'goldfish'")])
def test_cli_attack_suggests_the_ranked_classes(label, expected, cat_path, tmp_path, capsys):
    from guiapp.cli import main

    rc = main(["attack", str(cat_path), "-t", label, "-o", str(tmp_path / "o.png"), "--device", "cpu", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and expected in err and "did you mean" in err
    assert "crate" not in err and "coast" not in err
    assert not (tmp_path / "o.png").exists()


def test_cli_labels_lists_cat_classes_first(capsys):
    from guiapp.cli import main

    assert main(["labels", "cat"]) == 0
    names = [line.split(None, 2)[2].split("  (")[0] for line in capsys.readouterr().out.splitlines()]
    assert names[:5] == ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]
