"""Catalog validation: every error names the file, the path inside it and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from agent_graph.catalog import load_catalog, parse_catalog
from agent_graph.errors import CatalogError
from tests.conftest import CATALOG_YAML, REPO


def broken(mutate) -> CatalogError:
    data = yaml.safe_load(CATALOG_YAML)
    mutate(data)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(copy.deepcopy(data), "broken.yaml")
    return caught.value


def test_demo_and_suite_catalogs_load():
    for path in [REPO / "examples/catalog.yaml", REPO / "evals/threads/catalog.yaml"]:
        catalog = load_catalog(path)
        assert len(catalog.lines_of_business) == 3
        assert {lob.automation.value for lob in catalog.lines_of_business} == {"full", "confirm", "disabled"}
        assert len(catalog.intents()) >= 6


def test_wrong_attribute_type_names_the_path():
    error = broken(lambda d: d["lines_of_business"][0]["intents"][0]["attributes"][1].update(type="colour"))
    assert "broken.yaml: lines_of_business[0].intents[0].attributes[1].type" in str(error)
    assert "'string'" in str(error)  # what was expected


def test_unknown_key_is_an_error():
    error = broken(lambda d: d["lines_of_business"][0].update(automaton="full"))
    assert "lines_of_business[0].automaton: unknown key" in str(error)


def test_duplicate_intent_ids():
    def dup(d):
        d["lines_of_business"][1]["intents"][0]["id"] = "return_bike"
    assert "duplicate intent id 'return_bike'" in str(broken(dup))


def test_unknown_template_id():
    error = broken(lambda d: d["lines_of_business"][0]["intents"][0]["resolution"].update(template="nope"))
    assert "lines_of_business[0].intents[0].resolution.template: unknown template id 'nope'" in str(error)


def test_template_syntax_error():
    error = broken(lambda d: d["templates"][0].update(body="Hello {{ customer.first_name "))
    assert "templates[0].body: Jinja syntax error" in str(error)


def test_template_field_the_intent_does_not_declare():
    error = broken(lambda d: d["lines_of_business"][0]["templates"][0].update(body="{{ fields.frame_size }}"))
    assert "lines_of_business[0].templates[0].body: uses fields.frame_size" in str(error)
    assert "return_bike" in str(error)


def test_unknown_template_variable():
    error = broken(lambda d: d["templates"][0].update(subject="{{ ticket.id }}"))
    assert "templates[0].subject: unknown variable(s) ['ticket']" in str(error)


def test_enum_without_values_and_bad_pattern():
    def mutate(d):
        attrs = d["lines_of_business"][0]["intents"][0]["attributes"]
        attrs[0]["pattern"] = "TB-(\\d"
        attrs.append({"name": "method", "type": "enum"})
    text = str(broken(mutate))
    assert "attributes[0].pattern" in text and "not a valid regular expression" in text
    assert "attributes[2]" in text and "non-empty 'values'" in text


def test_unreadable_and_invalid_yaml(tmp_path: Path):
    with pytest.raises(CatalogError, match="cannot read the file"):
        load_catalog(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("organisation: [unclosed\n")
    with pytest.raises(CatalogError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_catalog(bad)
