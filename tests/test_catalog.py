"""Catalog validation: every error names the file, the path inside it and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from agent_graph.catalog import load_catalog, parse_catalog
from agent_graph.errors import CatalogError, CatalogNotFound
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
    with pytest.raises(CatalogNotFound, match=r"^catalog not found: .*missing.yaml$"):
        load_catalog(tmp_path / "missing.yaml")
    with pytest.raises(CatalogError, match="that is a folder"):
        load_catalog(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("organisation: [unclosed\n")
    with pytest.raises(CatalogError, match=r"bad.yaml: line \d+, column \d+: not valid YAML"):
        load_catalog(bad)


def test_every_shipped_catalog_renders_its_templates():
    """The sample-case render at load time accepts every catalog the project ships or replays."""
    paths = [REPO / "examples/catalog.yaml", *sorted((REPO / "evals/threads").rglob("*.yaml")),
             *sorted((REPO / "tests/suites").rglob("*.yaml"))]
    for path in paths:
        assert load_catalog(path).all_templates(), path


@pytest.mark.parametrize(("body", "problem"), [
    ("{{ organisation.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
    ("{{ follow_up_number + 'days' }}", "TypeError: unsupported operand type(s)"),
    ("{{ organisation | shout }}", "No filter named 'shout'"),
])
def test_a_template_that_can_never_render_is_a_load_error(body, problem):
    error = broken(lambda d: d["templates"][0].update(body=body))
    assert "broken.yaml: templates[0]" in str(error) and problem in str(error)
    assert len(str(error).splitlines()) == 1


def test_a_template_using_fields_of_only_some_of_its_intents_still_loads():
    """An organisation template serving every intent may print a field only some intents have,
    guarded or not: the sample case gives every field of every intent it serves."""
    data = yaml.safe_load(CATALOG_YAML)
    data["templates"][0]["body"] = ("Order {{ fields.order_ref }} because {{ fields.reason }}."
                                    "{% if fields.preferred_date is defined %} On {{ fields.preferred_date }}.{% endif %}"
                                    " Still needed: {{ missing[0].label }}")
    parse_catalog(data, "ok.yaml")


def test_yaml_alias_bomb_is_refused_with_a_short_message(tmp_path: Path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\norganisation: *i\n")  # unchecked: 387 million strings, echoed back
    assert bomb.stat().st_size < 400
    with pytest.raises(CatalogError, match=r"bomb.yaml: \(file\): its YAML aliases \(\*name\) expand to more than") as caught:
        load_catalog(bomb)
    assert len(str(caught.value)) < 300


def test_yaml_aliases_that_stay_small_are_allowed(tmp_path: Path):
    text = CATALOG_YAML.replace("queue: shop-desk", "queue: &desk shop-desk", 1).replace(
        "queue: workshop-desk", "queue: *desk", 1)
    assert "*desk" in text
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    catalog = load_catalog(path)
    assert {lob.queue for lob in catalog.lines_of_business} == {"shop-desk"}


def test_recursive_yaml_alias_is_refused(tmp_path: Path):
    path = tmp_path / "loop.yaml"
    path.write_text("organisation: &o [*o]\n")
    with pytest.raises(CatalogError, match="loop.yaml: line 1, column 15: a YAML alias refers to a value that contains it"):
        load_catalog(path)


def test_catalog_not_utf8_names_the_byte(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    raw = CATALOG_YAML.replace("Tidewater Bikes", "Tidewater Vélos").encode("latin-1")
    path.write_bytes(raw)
    offset, line = raw.index(b"\xe9"), raw[:raw.index(b"\xe9")].count(b"\n") + 1
    with pytest.raises(CatalogError, match=rf"latin1.yaml: byte {offset} \(line {line}\): not UTF-8 text \(byte 0xe9\)"):
        load_catalog(path)


def test_huge_wrong_values_are_not_echoed_whole():
    error = broken(lambda d: d.update(organisation=["x" * 1_000_000]))
    assert "organisation: Input should be a valid string" in str(error) and len(str(error)) < 300
