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
